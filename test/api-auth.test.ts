// Bearer tokens and scopes (API_AUTH=token), the default mode of each HOST, and the guards
// against requests a browser sends for a foreign page: cross-site forms and DNS rebinding.
import { expect } from 'chai';
import { request as httpRequest } from 'node:http';
import { accessSettings, type AccessSettings } from '../src/api/access.ts';
import { TOKEN_CACHE_MS } from '../src/api/auth.ts';
import { listenApi, type RunningApi } from '../src/api/server.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { createToken, revokeToken, secretHash } from '../src/tokens.ts';
import { runCli } from './helpers/cli.ts';
import { useTestDatabase } from './helpers/database.ts';
import { Client, type Reply } from './helpers/http.ts';
import { capturingLogger } from './helpers/log.ts';

interface RawReply extends Reply {
  headers: Record<string, string | string[] | undefined>;
}

/** A request with exactly these headers (fetch may not set Host). */
function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode!, type: String(res.headers['content-type'] ?? ''), body: text ? JSON.parse(text) : undefined, headers: res.headers }),
      );
    });
    req.once('error', reject);
    req.end(body);
  });
}

function expectProblem(r: Reply, status: number) {
  expect(r.status, JSON.stringify(r.body)).to.equal(status);
  expect(r.type).to.match(/^application\/problem\+json/);
  expect(r.body).to.include({ status });
}

const tokenAccess = (extra: Partial<AccessSettings> = {}): AccessSettings => ({ auth: 'token', allowedOrigins: [], allowedHosts: [], ...extra });

describe('API authentication and browser guards', function () {
  this.timeout(60_000);
  const t = useTestDatabase();
  const running: RunningApi[] = [];
  let writeSecret: string;
  let readSecret: string;

  async function start(access?: AccessSettings, host = '127.0.0.1', log = silentLogger()) {
    const api = await listenApi(t.db, log, host, 0, access ? { access } : {});
    running.push(api);
    return { api, port: api.port, client: new Client(`http://127.0.0.1:${api.port}`) };
  }
  const as = (secret: string) => ({ authorization: `Bearer ${secret}` });

  before(async () => {
    writeSecret = (await createToken(t.db, { name: 'writer', scope: 'write' })).secret;
    readSecret = (await createToken(t.db, { name: 'reader', scope: 'read' })).secret;
  });
  after(async () => {
    await Promise.all(running.map((a) => a.close()));
  });

  describe('every declared route needs exactly the access it declares', () => {
    it('public probes answer without a token; read routes need a token; write routes need a write token', async () => {
      const { client: c } = await start(tokenAccess());
      const write = (method: string, path: string, body?: unknown) => c.request(method, path, body, as(writeSecret));
      // Rows for the paths' parameters, so a request that passes authorization reaches its handler.
      await write('POST', '/domains', { slug: 'd', name: 'D' });
      const goal = (await write('POST', '/domain-goals', { domain_slug: 'd', title: 'G' })).body.id;
      await write('POST', '/repos', { slug: 'r', domain_slug: 'd' });
      const topic = (await write('POST', '/topics', { slug: 'tp', title: 'T' })).body.id;
      const ws = (await write('POST', '/workstreams', { slug: 'w', title: 'W', topic_id: topic })).body.id;
      const values: Record<string, string> = { slug: 'd', id: String(goal) };

      const doc = (await c.request('GET', '/openapi.json', undefined, as(readSecret))).body;
      const operations = Object.entries(doc.paths as Record<string, Record<string, { security: Array<Record<string, string[]>> }>>).flatMap(
        ([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
      );
      expect(operations.length).to.be.greaterThan(30);
      for (const { path, method, op } of operations) {
        const url = path.replace(/\{(\w+)\}/g, (_m, name: string) => (path.startsWith('/workstreams') && name === 'id' ? String(ws) : values[name]!));
        const where = `${method} ${path}`;
        const body = method === 'GET' ? undefined : {};
        const declared = op.security.length === 0 ? 'public' : op.security[0]!.bearerToken![0];
        // The policy: only the two probes are public; reads need read; every change needs write.
        // POST /mcp is the one exception: a read token gets a server of read tools only (mcp.test.ts).
        const expected = path === '/healthz' || path === '/readyz' ? 'public' : method === 'GET' || path === '/mcp' ? 'read' : 'write';
        expect(declared, where).to.equal(expected);

        const anonymous = await c.request(method, url, body);
        const reader = await c.request(method, url, body, as(readSecret));
        const writer = await c.request(method, url, body, as(writeSecret));
        if (declared === 'public') {
          expect(anonymous.status, where).to.equal(200);
          continue;
        }
        expectProblem(anonymous, 401);
        expect(writer.status, where).to.not.be.oneOf([401, 403]);
        if (declared === 'read') expect(reader.status, where).to.not.be.oneOf([401, 403]);
        else expectProblem(reader, 403);
      }
    });

    it('unknown paths and other methods of known paths need a token too', async () => {
      const { client: c } = await start(tokenAccess());
      for (const [method, path] of [['GET', '/nope'], ['DELETE', '/domains'], ['OPTIONS', '/domains'], ['PUT', '/tasks/1']]) {
        expectProblem(await c.request(method!, path!), 401);
      }
      expect((await c.request('GET', '/nope', undefined, as(readSecret))).status).to.equal(404);
      expect((await c.request('DELETE', '/domains', undefined, as(readSecret))).status).to.equal(405);
    });

    it('OpenAPI documents the bearer scheme and each operation\'s scope', async () => {
      const { client: c } = await start(tokenAccess());
      const doc = (await c.request('GET', '/openapi.json', undefined, as(readSecret))).body;
      expect(doc.components.securitySchemes.bearerToken).to.include({ type: 'http', scheme: 'bearer' });
      expect(doc.paths['/healthz'].get.security).to.deep.equal([]);
      expect(doc.paths['/domains'].get.security).to.deep.equal([{ bearerToken: ['read'] }]);
      expect(doc.paths['/domains'].post.security).to.deep.equal([{ bearerToken: ['write'] }]);
      expect(doc.paths['/domains'].post.responses).to.include.keys('401', '403');
      expect(doc.paths['/domains'].get.responses).to.include.keys('401').and.not.include.keys('403');
    });
  });

  describe('refused tokens', () => {
    it('missing, another scheme, malformed, unknown, revoked or expired → 401 problem+json with WWW-Authenticate', async () => {
      const { client: c } = await start(tokenAccess());
      const revoked = (await createToken(t.db, { name: 'gone', scope: 'write' })).secret;
      await revokeToken(t.db, 'gone');
      const expired = (await createToken(t.db, { name: 'old', scope: 'write', expiresInMs: 3_600_000 })).secret;
      await t.db.query(`UPDATE statehub.api_tokens SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' WHERE name = 'old'`);
      const unknown = `shub_${'A'.repeat(43)}`;

      const cases: Array<[string, Record<string, string>, RegExp, string | null]> = [
        ['missing', {}, /Authorization: Bearer/, null],
        ['basic', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /Authorization: Bearer/, null],
        ['malformed', as('not-a-token'), /malformed/, 'invalid_token'],
        ['empty bearer', { authorization: 'Bearer ' }, /malformed/, 'invalid_token'],
        // Meant as a bearer token, but not one: malformed, not missing.
        ['a token and more', { authorization: `Bearer ${readSecret} extra` }, /malformed/, 'invalid_token'],
        ['a tab before the token', { authorization: `Bearer\t${readSecret}` }, /malformed/, 'invalid_token'],
        ['unknown', as(unknown), /unknown/, 'invalid_token'],
        ['revoked', as(revoked), /revoked/, 'invalid_token'],
        ['expired', as(expired), /expired/, 'invalid_token'],
      ];
      for (const [what, headers, detail, error] of cases) {
        const res = await fetch(`${c.base}/domains`, { headers });
        const reply = { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.json() };
        expectProblem(reply, 401);
        expect(reply.body.detail, what).to.match(detail);
        const challenge = res.headers.get('www-authenticate');
        expect(challenge, what).to.match(/^Bearer realm="state-hub"/);
        if (error) expect(challenge, what).to.include(`error="${error}"`);
        else expect(challenge, what).to.equal('Bearer realm="state-hub"');
      }
    });

    it("a refused revoked token's name is in the request log, to find the client still using it", async () => {
      const { log, lines } = capturingLogger('info');
      const { client: c } = await start(tokenAccess(), '127.0.0.1', log);
      const secret = (await createToken(t.db, { name: 'leaked', scope: 'read' })).secret;
      await revokeToken(t.db, 'leaked');
      expectProblem(await c.request('GET', '/domains', undefined, as(secret)), 401);
      const request = lines.map((l) => JSON.parse(l)).find((l) => l.message === 'request');
      expect(request).to.include({ actor: 'leaked', status: 401 });
    });

    it('a read token on a write route → 403 naming the scope needed', async () => {
      const { port } = await start(tokenAccess());
      const r = await raw(port, 'POST', '/domains', { ...as(readSecret), 'content-type': 'application/json' }, '{"slug":"x","name":"X"}');
      expectProblem(r, 403);
      expect(r.body.detail).to.match(/scope write/).and.match(/reader has scope read/);
      expect(r.headers['www-authenticate']).to.equal('Bearer realm="state-hub", error="insufficient_scope", scope="write"');
    });

    it('authorization comes before the body: without a token a broken body or content type still gets 401', async () => {
      const { port } = await start(tokenAccess());
      expectProblem(await raw(port, 'POST', '/domains', { 'content-type': 'application/json' }, '{broken'), 401);
      expectProblem(await raw(port, 'POST', '/domains', { 'content-type': 'text/plain' }, 'x'), 401);
      const withToken = await raw(port, 'POST', '/domains', { ...as(writeSecret), 'content-type': 'text/plain' }, 'x');
      expectProblem(withToken, 415);
      expect(withToken.headers['x-content-type-options']).to.equal('nosniff');
    });

    it('a database without statehub.authenticate_token (code newer than the migration) is not ready: 503, not 500', async () => {
      const { client: c } = await start(tokenAccess({ tokenCacheMs: 0 }));
      await t.db.query('ALTER FUNCTION statehub.authenticate_token(bytea) RENAME TO authenticate_token_away');
      try {
        const r = await c.request('GET', '/domains', undefined, as(readSecret));
        expectProblem(r, 503);
        expect(r.body.detail).to.equal('the database is not migrated');
        const ready = await c.get('/readyz');
        expectProblem(ready, 503);
        expect(ready.body.detail).to.match(/not migrated/);
      } finally {
        await t.db.query('ALTER FUNCTION statehub.authenticate_token_away(bytea) RENAME TO authenticate_token');
      }
      expect((await c.request('GET', '/domains', undefined, as(readSecret))).status).to.equal(200);
    });

    it('revocation reaches a running API after its cache interval, expiry on the next request', async function () {
      expect(TOKEN_CACHE_MS).to.be.at.most(10_000);
      const { client: c } = await start(tokenAccess({ tokenCacheMs: 200 }));
      const secret = (await createToken(t.db, { name: 'soon-revoked', scope: 'read' })).secret;
      expect((await c.request('GET', '/domains', undefined, as(secret))).status).to.equal(200);
      await revokeToken(t.db, 'soon-revoked');
      await new Promise((r) => setTimeout(r, 250));
      expectProblem(await c.request('GET', '/domains', undefined, as(secret)), 401);

      // Expiry is checked on every request, also while the lookup is cached (default interval).
      const { client: cached } = await start(tokenAccess());
      const short = (await createToken(t.db, { name: 'short-lived', scope: 'read', expiresInMs: 1_000 })).secret;
      expect((await cached.request('GET', '/domains', undefined, as(short))).status).to.equal(200);
      await new Promise((r) => setTimeout(r, 1_100));
      const late = await cached.request('GET', '/domains', undefined, as(short));
      expectProblem(late, 401);
      expect(late.body.detail).to.match(/expired/);
    });

    it('last_used_at moves on use, at most once a minute', async () => {
      const { client: c } = await start(tokenAccess({ tokenCacheMs: 0 }));
      const secret = (await createToken(t.db, { name: 'used', scope: 'read' })).secret;
      const lastUsed = async () =>
        (await t.db.query<{ last_used_at: Date | null }>(`SELECT last_used_at FROM statehub.api_tokens WHERE name = 'used'`)).rows[0]!.last_used_at;
      expect(await lastUsed()).to.equal(null);
      await c.request('GET', '/domains', undefined, as(secret));
      const first = await lastUsed();
      expect(first).to.be.instanceOf(Date);
      await c.request('GET', '/domains', undefined, as(secret));
      expect((await lastUsed())!.getTime()).to.equal(first!.getTime());
      await t.db.query(`UPDATE statehub.api_tokens SET last_used_at = now() - interval '61 seconds' WHERE name = 'used'`);
      await c.request('GET', '/domains', undefined, as(secret));
      expect(Date.now() - (await lastUsed())!.getTime()).to.be.below(10_000);
    });
  });

  describe('the secret', () => {
    it('is printed once by token create, stored only as its SHA-256, and never logged; the log names the token', async () => {
      const env = { ...process.env, DATABASE_URL: t.url, LOG_LEVEL: 'debug' };
      const created = await runCli(['token', 'create', '--name', 'ci-deploy', '--scope', 'write', '--expires', '90d'], env);
      expect(created.code, created.stderr).to.equal(0);
      const secret = created.stdout.trim();
      expect(secret).to.match(/^shub_[A-Za-z0-9_-]{43}$/);
      expect(created.stderr).to.match(/created token ci-deploy, scope write, expires \d{4}-/).and.not.include(secret);

      const { rows } = await t.db.query<{ row: string; hash: Buffer }>(
        `SELECT row_to_json(t)::text AS row, secret_sha256 AS hash FROM statehub.api_tokens t WHERE name = 'ci-deploy'`,
      );
      expect(rows[0]!.hash.equals(secretHash(secret))).to.equal(true);
      expect(rows[0]!.row).to.not.include(secret.slice(5, 20));

      const listed = await runCli(['token', 'list'], env);
      expect(listed.code, listed.stderr).to.equal(0);
      expect(listed.stdout).to.match(/ci-deploy\s+write\s+active/).and.not.include(secret.slice(5, 20));
      const json = await runCli(['token', 'list', '--json'], env);
      expect(JSON.parse(json.stdout).find((x: { name: string }) => x.name === 'ci-deploy')).to.include({ scope: 'write', state: 'active', revoked_at: null });

      const { log, lines } = capturingLogger('debug');
      const { client: c } = await start(tokenAccess(), '127.0.0.1', log);
      expect((await c.request('POST', '/domains', { slug: 'logged', name: 'L' }, as(secret))).status).to.equal(201);
      expect((await c.request('GET', '/domains', undefined, as(`${secret.slice(0, -1)}x`))).status).to.equal(401);
      const all = lines.join('');
      expect(all).to.not.include(secret.slice(5, 20));
      const request = lines.map((l) => JSON.parse(l)).find((l) => l.message === 'request' && l.method === 'POST');
      expect(request).to.include({ actor: 'ci-deploy', status: 201 });

      const revoked = await runCli(['token', 'revoke', 'ci-deploy'], env);
      expect(revoked.code).to.equal(0);
      expect(revoked.stdout).to.match(/revoked token ci-deploy/);
      expect((await runCli(['token', 'revoke', 'nobody'], env)).code).to.equal(1);
      const upper = await runCli(['token', 'create', '--name', 'CI-deploy', '--scope', 'read'], env);
      expect(upper.code).to.equal(2);
      expect(upper.stderr).to.match(/lowercase/);
      const again = await runCli(['token', 'create', '--name', 'ci-deploy', '--scope', 'read'], env);
      expect(again.code).to.equal(1);
      expect(again.stderr).to.match(/exists already/);
    });
  });

  describe('the database roles', () => {
    it("the API's role checks a token through statehub.authenticate_token() and cannot read or write the table", async () => {
      const asApi = async (sql: string, params: unknown[] = []) =>
        t.db.tx(async (q) => {
          await q.query('SET LOCAL ROLE statehub_api');
          return q.query(sql, params);
        });
      const found = await asApi('SELECT name, scope, revoked FROM statehub.authenticate_token($1)', [secretHash(writeSecret)]);
      expect(found.rows).to.deep.equal([{ name: 'writer', scope: 'write', revoked: false }]);
      for (const sql of [
        'SELECT * FROM statehub.api_tokens',
        `UPDATE statehub.api_tokens SET revoked_at = NULL`,
        `INSERT INTO statehub.api_tokens (name, scope, secret_sha256) VALUES ('forged', 'write', sha256('x'))`,
      ]) {
        const err = await asApi(sql).then(() => undefined, (e: { code?: string }) => e);
        expect(err?.code, sql).to.equal('42501');
      }
    });
  });

  describe('modes', () => {
    it('unset API_AUTH: none on loopback HOSTs, token on any other; an explicit value wins', () => {
      const auth = (env: Record<string, string>) => accessSettings(loadConfig(env)).auth;
      for (const host of ['127.0.0.1', '127.8.9.1', '::1', 'localhost']) expect(auth({ HOST: host }), host).to.equal('none');
      expect(auth({})).to.equal('none');
      for (const host of ['0.0.0.0', '::', '10.1.2.3', 'hub.example.com']) expect(auth({ HOST: host }), host).to.equal('token');
      expect(auth({ HOST: '0.0.0.0', API_AUTH: 'none' })).to.equal('none');
      expect(auth({ HOST: '127.0.0.1', API_AUTH: 'token' })).to.equal('token');
      expect(() => loadConfig({ API_AUTH: 'open' })).to.throw(/API_AUTH/);
    });

    it('a loopback hub is open by default; one bound to all interfaces is closed by default', async () => {
      const { client: open } = await start(undefined, '127.0.0.1');
      expect((await open.get('/domains')).status).to.equal(200);
      const { client: closed } = await start(undefined, '0.0.0.0');
      expectProblem(await closed.get('/domains'), 401);
      expect((await closed.get('/healthz')).status).to.equal(200);
    });

    it('API_AUTH=none beyond loopback warns at start, and still serves only loopback and allowed Host names', async () => {
      const { log, lines } = capturingLogger('info');
      const { port } = await start({ auth: 'none', allowedOrigins: [], allowedHosts: ['hub.internal'] }, '0.0.0.0', log);
      const warning = lines.map((l) => JSON.parse(l)).find((l) => l.level === 'warn');
      expect(warning?.message).to.match(/API_AUTH=none on HOST=0\.0\.0\.0/);
      expect((await raw(port, 'GET', '/domains', { host: `127.0.0.1:${port}` })).status).to.equal(200);
      expect((await raw(port, 'GET', '/domains', { host: `hub.internal:${port}` })).status).to.equal(200);
      expectProblem(await raw(port, 'GET', '/domains', { host: `attacker.example:${port}` }), 421);

      const quiet = capturingLogger('info');
      await start(undefined, '127.0.0.1', quiet.log);
      expect(quiet.lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn')).to.deep.equal([]);
    });
  });

  describe('requests a browser sends for another site', () => {
    let port: number;
    let goalA: number;
    let goalB: number;
    const events = async () => Number((await t.db.query(`SELECT count(*) FROM statehub.outbox WHERE subject LIKE '%domain_goal%'`)).rows[0]!.count);
    const activeGoal = async () => (await t.db.query<{ id: number }>(`SELECT id FROM statehub.domain_goals WHERE domain_id = (SELECT id FROM statehub.domains WHERE slug = 'csrf') AND status = 'active'`)).rows[0]?.id;

    before(async () => {
      // The quick start's hub: loopback, no tokens.
      ({ port } = await start(undefined, '127.0.0.1'));
      const json = { 'content-type': 'application/json', host: `127.0.0.1:${port}` };
      await raw(port, 'POST', '/domains', json, '{"slug":"csrf","name":"C"}');
      goalA = (await raw(port, 'POST', '/domain-goals', json, '{"domain_slug":"csrf","title":"A"}')).body.id;
      goalB = (await raw(port, 'POST', '/domain-goals', json, '{"domain_slug":"csrf","title":"B"}')).body.id;
      // An empty POST without a content type is fine (curl -X POST, fetch without a body).
      expect((await raw(port, 'POST', `/domain-goals/${goalA}/activate`, { host: `127.0.0.1:${port}` })).status).to.equal(200);
    });

    it('a cross-site form POST is refused and changes nothing', async () => {
      const before = await events();
      const form = { host: `127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded' };
      expectProblem(await raw(port, 'POST', `/domain-goals/${goalB}/activate`, { ...form, origin: 'https://attacker.example' }), 403);
      expectProblem(await raw(port, 'POST', `/domain-goals/${goalB}/activate`, { ...form, origin: 'null' }), 403);
      // Without an Origin (an old browser, a form on a file:// page): still not JSON.
      expectProblem(await raw(port, 'POST', `/domain-goals/${goalB}/activate`, form), 415);
      expectProblem(await raw(port, 'POST', `/domain-goals/${goalB}/activate`, { ...form, 'content-type': 'text/plain' }, 'x'), 415);
      expect(await activeGoal()).to.equal(goalA);
      expect(await events()).to.equal(before);
    });

    it('a DNS-rebinding page (its own name as Host) gets nothing, not even reads', async () => {
      const attacker = { host: `rebind.attacker.example:${port}`, origin: `http://rebind.attacker.example:${port}` };
      expectProblem(await raw(port, 'GET', '/domains', attacker), 421);
      expectProblem(await raw(port, 'POST', `/domain-goals/${goalB}/activate`, { ...attacker, 'content-type': 'application/json' }), 421);
      expectProblem(await raw(port, 'GET', '/domains', { host: `127.0.0.1.nip.io:${port}` }), 421);
      // An absolute-form target names the host, whatever Host says (RFC 9112 §3.2.2).
      expectProblem(await raw(port, 'GET', `http://rebind.attacker.example:${port}/domains`, { host: `127.0.0.1:${port}` }), 421);
      expect((await raw(port, 'GET', `http://127.0.0.1:${port}/domains`, { host: `attacker.example` })).status).to.equal(200);
      expect(await activeGoal()).to.equal(goalA);
    });

    it('a same-origin JSON client and a client without Origin still work', async () => {
      const sameOrigin = { host: `localhost:${port}`, origin: `http://localhost:${port}`, 'content-type': 'application/json' };
      expect((await raw(port, 'POST', `/domain-goals/${goalB}/activate`, sameOrigin)).status).to.equal(200);
      expect(await activeGoal()).to.equal(goalB);
      expect((await raw(port, 'GET', '/domains', { host: `[::1]:${port}` })).status).to.equal(200);
      const noOrigin = { host: `127.0.0.1:${port}`, 'content-type': 'application/json' };
      expect((await raw(port, 'POST', '/domain-goals', noOrigin, '{"domain_slug":"csrf","title":"C"}')).status).to.equal(201);
    });

    it('pages of API_ALLOWED_ORIGINS get CORS answers, preflight included; other origins do not', async () => {
      const { port: p } = await start(tokenAccess({ allowedOrigins: ['https://planner.example'] }));
      const preflight = await raw(p, 'OPTIONS', '/domains', {
        origin: 'https://planner.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      });
      expect(preflight.status).to.equal(204);
      expect(preflight.headers['access-control-allow-origin']).to.equal('https://planner.example');
      expect(String(preflight.headers['access-control-allow-headers'])).to.match(/authorization/);
      const post = await raw(p, 'POST', '/domains', { origin: 'https://planner.example', ...as(writeSecret), 'content-type': 'application/json' }, '{"slug":"cors","name":"C"}');
      expect(post.status).to.equal(201);
      expect(post.headers['access-control-allow-origin']).to.equal('https://planner.example');
      const foreign = await raw(p, 'GET', '/domains', { origin: 'https://other.example', ...as(writeSecret) });
      expectProblem(foreign, 403);
      expect(foreign.headers['access-control-allow-origin']).to.equal(undefined);
      // A page of the hub itself behind a TLS proxy: https, default port, Host with or without it.
      for (const host of ['hub.example.com', 'hub.example.com:443']) {
        const own = await raw(p, 'GET', '/domains', { host, origin: 'https://hub.example.com', ...as(readSecret) });
        expect(own.status, host).to.equal(200);
      }
      expectProblem(await raw(p, 'GET', '/domains', { host: 'hub.example.com', origin: 'https://hub.example.com:8443', ...as(readSecret) }), 403);
      // With tokens, the Host is not what keeps others out: any name works with a token.
      expect((await raw(p, 'GET', '/domains', { host: 'hub.example.com', ...as(readSecret) })).status).to.equal(200);
    });
  });
});
