// What a careful client may send that the API must refuse cleanly (never 500): characters
// PostgreSQL cannot store, broken percent-encoding and UTF-8, unknown query parameters, odd
// integers, methods a path does not take, and a client too slow to send its headers.
import { expect } from 'chai';
import { connect } from 'node:net';
import { useTestDatabase } from './helpers/database.ts';
import { startTestApi, type Client, type Reply } from './helpers/http.ts';
import { listenApi, type RunningApi } from '../src/api/server.ts';
import { silentLogger } from '../src/logger.ts';

function expectProblem(r: Reply, status: number, detail?: RegExp) {
  expect(r.status, JSON.stringify(r.body)).to.equal(status);
  expect(r.type).to.match(/^application\/problem\+json/);
  if (detail) expect(r.body.detail).to.match(detail);
}

const fieldsOf = (r: Reply) => (r.body.errors ?? []).map((e: { field: string }) => e.field);

describe('HTTP API at the edges', function () {
  const t = useTestDatabase();
  let api: RunningApi;
  let c: Client;
  let topicId: number;
  let workstreamId: number;
  let taskId: number;

  before(async () => {
    ({ api, client: c } = await startTestApi(t.db));
    await c.post('/domains', { slug: 'edge', name: 'Edge' });
    topicId = (await c.post('/topics', { slug: 'edge-topic', title: 'Edge topic' })).body.id;
    workstreamId = (await c.post('/workstreams', { slug: 'edge-ws', title: 'Edge', topic_id: topicId, status: 'active' })).body.id;
    taskId = (await c.post('/tasks', { workstream_id: workstreamId, title: 'Edge task' })).body.id;
  });
  after(async () => {
    await api?.close();
  });

  describe('text PostgreSQL cannot store', () => {
    it('a NUL character in any text field → 400 naming the field, nothing stored', async () => {
      const cases: Array<[string, string, Record<string, unknown>, string]> = [
        ['POST', '/domains', { slug: 'n', name: 'a\u0000b' }, 'name'],
        ['POST', '/domains', { slug: 'n', name: 'ok', description: 'x\u0000' }, 'description'],
        ['POST', '/tasks', { workstream_id: workstreamId, title: '\u0000' }, 'title'],
        ['POST', '/progress-events', { workstream_id: workstreamId, message: 'did \u0000 it' }, 'message'],
        ['PATCH', `/tasks/${taskId}`, { status_reason: 'because\u0000' }, 'status_reason'],
        ['POST', '/repos', { slug: 'n-repo', domain_slug: 'edge', local_path: '/tmp/\u0000' }, 'local_path'],
      ];
      for (const [method, path, body, field] of cases) {
        const r = await c.request(method, path, body);
        expectProblem(r, 400);
        expect(fieldsOf(r), `${method} ${path}`).to.deep.equal([field]);
        expect(r.body.errors[0].message).to.match(/NUL/);
      }
      expectProblem(await c.get('/domains/n'), 404);
    });

    it('a lone UTF-16 surrogate (a valid JSON escape with no UTF-8 form) → 400 naming the field', async () => {
      const r = await c.request('POST', '/domains', '{"slug":"sur","name":"a\\ud800b"}', { 'content-type': 'application/json' });
      expectProblem(r, 400);
      expect(fieldsOf(r)).to.deep.equal(['name']);
      // A proper pair is an ordinary character.
      expect((await c.request('POST', '/domains', '{"slug":"sur","name":"\\ud83d\\ude00"}', { 'content-type': 'application/json' })).status).to.equal(201);
    });

    it('the database refusing a value a request can carry (22021, 22P02) is a 400, whoever sent it', async () => {
      // Past the edge (e.g. a future field without the text schema), the SQLSTATE table still answers 400.
      const { toHttpError } = await import('../src/api/errors.ts');
      const err = await t.db.query("SELECT convert_from('\\x6100'::bytea, 'UTF8')").catch((e: unknown) => e);
      expect((err as { code: string }).code).to.equal('22021');
      expect(toHttpError(err)).to.include({ status: 400 });
      const other = await t.db.query("SELECT 'x'::int").catch((e: unknown) => e); // 22P02
      expect(toHttpError(other)).to.include({ status: 400 });
      // Not every data exception is the client's: a division by zero is a bug in our SQL (500).
      const division = await t.db.query('SELECT 1/0').catch((e: unknown) => e); // 22012
      expect(toHttpError(division)).to.equal(undefined);
    });

    it('a body that is not valid UTF-8 → 400, nothing stored (not U+FFFD)', async () => {
      const res = await fetch(`${c.base}/domains`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: Buffer.concat([Buffer.from('{"slug":"bad-utf8","name":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
      });
      expect(res.status).to.equal(400);
      expect(((await res.json()) as { detail: string }).detail).to.match(/not valid UTF-8/);
      expectProblem(await c.get('/domains/bad-utf8'), 404);
    });

    it('a body in another charset → 415', async () => {
      const r = await c.request('POST', '/domains', JSON.stringify({ slug: 'u16', name: 'x' }), { 'content-type': 'application/json; charset=utf-16' });
      expectProblem(r, 415);
    });
  });

  describe('paths and query strings', () => {
    it('bad percent-encoding in a path → 400', async () => {
      expectProblem(await c.get('/tasks/%ZZ'), 400, /percent-encoded/);
      expectProblem(await c.get('/domains/%E0%A4%A'), 400, /percent-encoded/);
      expectProblem(await c.patch('/workstreams/%E0', { title: 'x' }), 400, /percent-encoded/);
    });

    it('unknown query parameters → 400 naming them', async () => {
      const r = await c.get('/domains?limt=5&x=1');
      expectProblem(r, 400);
      expect(fieldsOf(r)).to.have.members(['limt', 'x']);
      expectProblem(await c.get(`/workstreams/${workstreamId}?verbose=1`), 400);
      expectProblem(await c.get('/next-steps?page=2'), 400);
      // Probes add cache-busting parameters; the service endpoints take any.
      for (const path of ['/healthz?x=1', '/readyz?cachebust=1', '/openapi.json?v=2']) expect((await c.get(path)).status, path).to.equal(200);
    });

    it('reference filters are named after the resource and take an id or a slug', async () => {
      const other = (await c.post('/workstreams', { slug: 'edge-other', title: 'Other', topic_id: topicId })).body.id;
      await c.post('/tasks', { workstream_id: other, title: 'Other task' });
      const byId = await c.get(`/tasks?workstream=${workstreamId}`);
      expect(byId.body.items.map((x: { id: number }) => x.id)).to.deep.equal([taskId]);
      const bySlug = await c.get('/tasks?workstream=edge-ws');
      expect(bySlug.body.items.map((x: { id: number }) => x.id)).to.deep.equal([taskId]);
      // The older name still works, for ids only, and cannot be combined with the new one.
      expect((await c.get(`/tasks?workstream_id=${workstreamId}`)).body.items.map((x: { id: number }) => x.id)).to.deep.equal([taskId]);
      expectProblem(await c.get('/tasks?workstream_id=edge-ws'), 400);
      expectProblem(await c.get(`/tasks?workstream=${workstreamId}&workstream_id=${workstreamId}`), 400, /not both/);

      await c.post('/decisions', { title: 'Edge decision', topic_id: topicId, workstream_id: workstreamId });
      for (const q of [`topic=${topicId}`, 'topic=edge-topic', `topic_id=${topicId}`, 'workstream=edge-ws', `workstream_id=${workstreamId}`]) {
        expect((await c.get(`/decisions?${q}`)).body.items, q).to.have.length(1);
      }
      await c.post('/progress-events', { workstream_id: workstreamId, task_id: taskId, message: 'edge progress' });
      for (const q of [`task=${taskId}`, `task_id=${taskId}`, 'workstream=edge-ws', `workstream_id=${workstreamId}`]) {
        expect((await c.get(`/progress-events?${q}`)).body.items, q).to.have.length(1);
      }
      expect((await c.get('/topics?domain=edge')).status).to.equal(200);
      const domainId = (await c.get('/domains/edge')).body.id;
      expect((await c.get(`/repos?domain=${domainId}`)).status).to.equal(200);
    });

    it('one strict integer rule for limit and ids', async () => {
      for (const bad of ['0x10', '1e2', '%205', '5%20', '010', '-1', '+5', '1.0', '']) {
        expectProblem(await c.get(`/domains?limit=${bad}`), 400);
      }
      expectProblem(await c.get('/next-steps?limit=1e2'), 400);
      expectProblem(await c.get('/tasks/01'), 400);
      // All digits in an id-or-slug filter is an id, so a bad one is refused, not taken for a slug.
      expectProblem(await c.get('/tasks?workstream=01'), 400);
      expectProblem(await c.get('/tasks?workstream=9999999999999999'), 400);
      expectProblem(await c.get('/repos?domain=Not-A-Slug'), 400);
      expectProblem(await c.get(`/tasks?workstream_id=0${workstreamId}`), 400);
      expect((await c.get('/domains?limit=10')).status).to.equal(200);
      expect((await c.get('/next-steps?limit=10')).status).to.equal(200);
    });

    it('next-steps: offset is refused with advice to page by cursor; a cursor it did not issue → 400', async () => {
      for (const offset of ['0', '100', '1e2']) {
        const r = await c.get(`/next-steps?offset=${offset}`);
        expectProblem(r, 400, /offset is no longer accepted: page with cursor/);
        expect(fieldsOf(r)).to.deep.equal(['offset']);
      }
      const b64 = (s: string) => Buffer.from(s).toString('base64url');
      // A list's id cursor, a rank that does not exist, numbers beyond exact range, garbage.
      for (const cursor of [b64('id:5'), b64('step:0:1:1'), b64('step:5:1:1'), b64('step:1:9007199254740993:1'), b64('step:1:01:1'), b64('step:1:1:0'), 'garbage']) {
        expectProblem(await c.get(`/next-steps?cursor=${cursor}`), 400, /cursor is not one this API issued/);
      }
      await c.post('/decisions', { title: 'Edge next step' });
      const first = await c.get('/next-steps?limit=1');
      expect(first.body.next_cursor).to.be.a('string');
      // Another list's cursor is refused here, and this one there.
      const domains = await c.get('/domains?limit=1');
      expect(domains.body.next_cursor).to.be.a('string');
      expectProblem(await c.get(`/next-steps?cursor=${domains.body.next_cursor}`), 400, /cursor is not one this API issued/);
      expectProblem(await c.get(`/domains?cursor=${first.body.next_cursor}`), 400, /cursor is not one this API issued/);
    });
  });

  describe('methods and the contract', () => {
    it('a method a path does not take → 405 with Allow; OPTIONS → 204 with Allow', async () => {
      const put = await c.request('PUT', `/tasks/${taskId}`, { title: 'x' });
      expectProblem(put, 405);
      const res = await fetch(`${c.base}/tasks/${taskId}`, { method: 'DELETE' });
      expect(res.status).to.equal(405);
      expect(res.headers.get('allow')).to.equal('GET, HEAD, PATCH, OPTIONS');
      expect((await fetch(`${c.base}/domains`, { method: 'DELETE' })).headers.get('allow')).to.equal('POST, GET, HEAD, OPTIONS');
      expect((await fetch(`${c.base}/healthz`, { method: 'POST' })).status).to.equal(405);
      const options = await fetch(`${c.base}/tasks/${taskId}`, { method: 'OPTIONS' });
      expect(options.status).to.equal(204);
      expect(options.headers.get('allow')).to.equal('GET, HEAD, PATCH, OPTIONS');
      expect((await c.get(`/tasks/${taskId}`)).body.title).to.equal('Edge task');
      expectProblem(await c.request('PUT', '/no-such-thing'), 404);
    });

    it('/openapi.json documents /healthz, /readyz, itself and the deprecated filter names', async () => {
      const doc = (await c.get('/openapi.json')).body;
      expect(doc.paths).to.include.keys('/healthz', '/readyz', '/openapi.json');
      const taskParams = doc.paths['/tasks'].get.parameters as Array<{ name: string; deprecated?: boolean }>;
      expect(taskParams.find((p) => p.name === 'workstream')).to.not.have.property('deprecated');
      expect(taskParams.find((p) => p.name === 'workstream_id')).to.include({ deprecated: true });
    });
  });

  describe('slow clients', () => {
    let slow: RunningApi;
    before(async () => {
      slow = await listenApi(t.db, silentLogger(), '127.0.0.1', 0, { headersTimeoutMs: 1000 });
    });
    after(async () => {
      await slow?.close();
    });

    it('a client that never finishes its headers gets 408 close to the configured limit', async () => {
      const started = Date.now();
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(slow.port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
        let data = '';
        socket.on('data', (d) => (data += d.toString()));
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
        setTimeout(() => (socket.destroy(), reject(new Error('no answer within 10 s'))), 10_000).unref();
      });
      expect(answer).to.match(/^HTTP\/1\.1 408/);
      // Node checks the limit every connectionsCheckingInterval: 30 s unless set.
      expect(Date.now() - started).to.be.below(2500);
    });
  });
});
