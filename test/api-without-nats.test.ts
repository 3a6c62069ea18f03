// The API never waits for NATS or the pump: transitions commit and answer at once while the
// pump cannot publish, and their events wait in the outbox.
import { expect } from 'chai';
import { loadConfig } from '../src/config.ts';
import { freePort } from '../src/start/server-process.ts';
import { silentLogger } from '../src/logger.ts';
import type { RunningApi } from '../src/api/server.ts';
import { startPump, type PumpHandle } from '../src/pump/index.ts';
import { useTestDatabase } from './helpers/database.ts';
import { startTestApi, type Client } from './helpers/http.ts';
import { PASSED } from './helpers/pump.ts';

describe('API while events cannot be published', function () {
  let api: RunningApi | undefined;
  let pump: PumpHandle | undefined;
  after(async () => {
    await pump?.stop();
    await api?.close();
  });
  const t = useTestDatabase();
  let c: Client;
  let topicId: number;

  before(async () => {
    ({ api, client: c } = await startTestApi(t.db));
    topicId = (await c.post('/topics', { slug: 'offline', title: 'Offline' })).body.id;
  });

  // A PubAck timeout is 5 s and a connect attempt can take as long: a request that waited on
  // NATS in any way would take seconds. Generous for a shared machine, far below that.
  const SLOWEST_ACCEPTABLE_MS = 1500;

  async function completeWorkstreams(prefix: string, n: number): Promise<number[]> {
    const took: number[] = [];
    for (let i = 0; i < n; i++) {
      const w = await c.post('/workstreams', { slug: `${prefix}-${i}`, title: `W${i}`, topic_id: topicId, status: 'active' });
      expect(w.status).to.equal(201);
      const started = performance.now();
      const done = await c.patch(`/workstreams/${w.body.id}`, { status: 'completed' });
      took.push(performance.now() - started);
      expect(done.status).to.equal(200);
    }
    return took;
  }

  async function pending(): Promise<number> {
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM statehub.outbox o WHERE NOT (${PASSED}) AND subject = 'org.statehub.workstream.completed'`);
    return rows[0]!.n;
  }

  it('with no pump running: 50 completions succeed promptly and 50 events wait in the outbox', async () => {
    const took = await completeWorkstreams('nopump', 50);
    expect(Math.max(...took)).to.be.below(SLOWEST_ACCEPTABLE_MS);
    expect(await pending()).to.equal(50);
  });

  it('with the pump running but NATS unreachable: 50 more succeed promptly, nothing is lost', async () => {
    const config = loadConfig({ DATABASE_URL: t.url, NATS_URL: `nats://127.0.0.1:${await freePort()}`, PUMP_METRICS_PORT: '0' });
    pump = await startPump(config, silentLogger());
    expect(pump.readiness().ready).to.equal(false);
    const took = await completeWorkstreams('nonats', 50);
    expect(Math.max(...took)).to.be.below(SLOWEST_ACCEPTABLE_MS);
    expect(await pending()).to.equal(100);
  });
});
