import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { createDb, type Db } from '../src/db.ts';
import { freePort } from '../src/start/server-process.ts';
import { silentLogger } from '../src/logger.ts';
import type { RunningApi } from '../src/api/server.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { Client, startTestApi } from './helpers/http.ts';
import { spawnCli } from './helpers/start.ts';

describe('HTTP API without its database', () => {
  describe('nothing listens', () => {
    let db: Db;
    let api: RunningApi;
    let c: Client;

    before(async () => {
      // Nothing listens on a port just found free.
      db = createDb({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/none` }, silentLogger());
      ({ api, client: c } = await startTestApi(db));
    });
    after(async () => {
      await api?.close();
      await db?.close();
    });

    it('healthz stays 200, readyz and data requests answer 503 problems with Retry-After', async () => {
      expect((await c.get('/healthz')).status).to.equal(200);
      const ready = await c.get('/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.type).to.match(/problem\+json/);
      expect(ready.body.detail).to.equal('not ready: the database refused the connection (is it running?)');
      const r = await c.get('/domains');
      expect(r.status).to.equal(503);
      expect(r.body.detail).to.equal('the database is unavailable');
      expect(JSON.stringify(r.body)).not.to.match(/ECONNREFUSED|127\.0\.0\.1/);
      const res = await fetch(`${c.base}/domains`);
      expect(res.headers.get('retry-after')).to.equal('5');
    });
  });

  describe('the connection ends under the request', () => {
    // A "database" that accepts the connection and hangs up: node-postgres then fails the query
    // with "Connection terminated unexpectedly", an error without any code.
    let hangUp: Server;
    const sockets = new Set<Socket>();
    let db: Db;
    let api: RunningApi;
    let c: Client;

    before(async () => {
      hangUp = createServer((s) => {
        sockets.add(s);
        s.once('data', () => s.destroy());
      });
      await new Promise<void>((r) => hangUp.listen(0, '127.0.0.1', r));
      const port = (hangUp.address() as { port: number }).port;
      db = createDb({ connectionString: `postgres://postgres@127.0.0.1:${port}/none` }, silentLogger());
      ({ api, client: c } = await startTestApi(db));
    });
    after(async () => {
      await api?.close();
      await db?.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => hangUp?.close(r));
    });

    it('answers 503 with Retry-After, not 500, and readyz says why', async () => {
      for (const path of ['/domains', '/tasks/1', '/next-steps']) {
        const r = await c.get(path);
        expect(r.status, path).to.equal(503);
        expect(r.body.detail).to.equal('the database is unavailable');
      }
      const post = await c.post('/domains', { slug: 'x', name: 'X' });
      expect(post.status).to.equal(503);
      expect((await c.get('/readyz')).body.detail).to.equal('not ready: the connection to the database failed or timed out');
    });
  });

  describe('a database that is not migrated', () => {
    let tdb: TestDatabase;
    let db: Db;
    let api: RunningApi;
    let c: Client;

    before(async () => {
      tdb = await createTestDatabase({ migrated: false });
      db = createDb({ connectionString: tdb.url }, silentLogger());
      ({ api, client: c } = await startTestApi(db));
    });
    after(async () => {
      await api?.close();
      await db?.close();
      await tdb?.drop();
    });

    it('readyz answers 503 saying to migrate, and data requests 503 rather than 500', async () => {
      const ready = await c.get('/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body.detail).to.match(/not migrated \(run statehub migrate\)/);
      for (const r of [await c.get('/domains'), await c.post('/domains', { slug: 'x', name: 'X' })]) {
        expect(r.status).to.equal(503);
        expect(r.body.detail).to.equal('the database is not migrated');
      }
    });
  });

  it('statehub api started against an unreachable database says so in one line and keeps serving', async function () {
    this.timeout(30_000);
    const env = { PATH: process.env.PATH, DATABASE_URL: `postgres://u:secret@127.0.0.1:${await freePort()}/none`, PORT: '0', LOG_LEVEL: 'info' };
    const proc = spawn(process.execPath, ['bin/statehub.js', 'api'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line within 20 s:\n${out}`)), 20_000);
        const onData = (d: Buffer) => {
          out += d.toString();
          const m = /^.*database not ready.*$/m.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[0]);
          }
        };
        proc.stdout!.on('data', onData);
        proc.stderr!.on('data', onData);
      });
      expect(line).to.match(/refused the connection/).and.match(/readyz/);
      expect(out).not.to.match(/secret/);
      const port = /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(out)?.[1];
      expect(port, out).to.be.a('string');
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).to.equal(503);
      expect(proc.exitCode).to.equal(null);
    } finally {
      proc.kill('SIGKILL');
    }
  });

  it('statehub api cancels a statement that outlives API_STATEMENT_TIMEOUT and answers 503', async function () {
    this.timeout(30_000);
    const tdb = await createTestDatabase();
    const db = createDb({ connectionString: tdb.url, max: 2 }, silentLogger());
    const api = spawnCli(['api'], { PATH: process.env.PATH, DATABASE_URL: tdb.url, PORT: '0', API_STATEMENT_TIMEOUT: '500ms' });
    try {
      const port = (await api.waitFor(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/, 20_000))[1];
      const c = new Client(`http://127.0.0.1:${port}`);
      expect((await c.post('/domains', { slug: 'locked', name: 'L' })).status).to.equal(201);
      // Another session holds the row, so the API's UPDATE waits until the server cancels it.
      await db.tx(async (q) => {
        await q.query(`SELECT 1 FROM statehub.domains WHERE slug = 'locked' FOR UPDATE`);
        const started = Date.now();
        const r = await c.patch('/domains/locked', { name: 'changed' });
        expect(r.status, JSON.stringify(r.body)).to.equal(503);
        expect(r.body.detail).to.equal('the database took too long to answer');
        expect(Date.now() - started).to.be.within(400, 5_000);
      });
      expect((await c.get('/domains/locked')).body.name).to.equal('L');
    } finally {
      api.proc.kill('SIGKILL');
      await db.close();
      await tdb.drop();
    }
  });
});
