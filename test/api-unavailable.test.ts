import { expect } from 'chai';
import { createDb, type Db } from '../src/db.ts';
import { freePort } from '../src/server-process.ts';
import { silentLogger } from '../src/logger.ts';
import type { RunningApi } from '../src/api/server.ts';
import { startTestApi, type Client } from './helpers/http.ts';

describe('HTTP API without its database', () => {
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

  it('healthz stays 200, readyz and data requests answer 503 problems', async () => {
    expect((await c.get('/healthz')).status).to.equal(200);
    const ready = await c.get('/readyz');
    expect(ready.status).to.equal(503);
    expect(ready.type).to.match(/problem\+json/);
    const r = await c.get('/domains');
    expect(r.status).to.equal(503);
    expect(r.body.detail).to.equal('the database is unavailable');
    expect(JSON.stringify(r.body)).not.to.match(/ECONNREFUSED|127\.0\.0\.1/);
  });
});
