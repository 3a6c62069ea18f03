// The pump across a PostgreSQL failover (docs/ha.md): a primary and two asynchronous streaming
// standbys, all named in DATABASE_URL. Writers commit at 500 events/s; replication is frozen for
// 3 s (SIGSTOP on the walsenders), the primary crashes, the most advanced standby is promoted
// and the other follows it, as Patroni does. What the frozen seconds committed never reaches
// the promoted standby. With PUMP_WAIT_FOR_STANDBYS=1 the same
// pump follows the promotion and the stream holds exactly the survivor's events; with the
// setting off, events of transactions the survivor never had reach the stream (ghosts). Counted
// by envelope id, stream against the survivor's outbox, in both directions.
import { expect } from 'chai';
import { connect, type NatsConnection } from 'nats';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.ts';
import { createDb, type Db } from '../src/db.ts';
import { createLogger, silentLogger } from '../src/logger.ts';
import { outboxStatus, type OutboxStatus } from '../src/cli/tools/status.ts';
import { startPump, type PumpHandle } from '../src/pump/index.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { startPgCluster, type PgCluster } from './helpers/pg-cluster.ts';
import { allDelivered, insertWorkstreamRows, metric, probe, readStream, waitFor, type StoredMessage } from './helpers/pump.ts';

/** docs/ha.md: after a promotion the same pump publishes again this soon, with no restart. */
const FOLLOW_MS = 5000;
const FREEZE_MS = 3000;

interface Outcome {
  stream: StoredMessage[];
  survivors: string[];
  /** From the promotion to the pump's next publish. */
  followMs: number;
  /** What /readyz said while replication was frozen, and the replication-wait gauge then. */
  frozenDetail: string;
  frozenWaitSeconds: number;
  /** `outbox status` before the fault. */
  standbys: OutboxStatus['standbys'];
  newestBatchTimeline: number;
}

async function failover(waitForStandbys: number): Promise<Outcome> {
  let cluster: PgCluster | undefined;
  let nats: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let pump: PumpHandle | undefined;
  let db: Db | undefined;
  let writing = true;
  let writer: Promise<void> | undefined;
  try {
    cluster = await startPgCluster({ standbys: 2 });
    await cluster.createDatabase('statehub');
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    const hosts = [cluster.primary, ...cluster.standbys].map((n) => `127.0.0.1:${n.port}`).join(',');
    const url = `postgres://postgres@${hosts}/statehub?target_session_attrs=read-write`;
    db = createDb({ connectionString: url, max: 2 }, silentLogger());
    const env = { DATABASE_URL: url, NATS_URL: nats.url, PUMP_METRICS_PORT: '0', PUMP_POLL_INTERVAL: '1s', PUMP_WAIT_FOR_STANDBYS: String(waitForStandbys) };
    const log = process.env.PUMP_TEST_LOG ? createLogger(process.env.PUMP_TEST_LOG) : silentLogger();
    const p = (pump = await startPump(loadConfig(env), log));
    await waitFor('the pump to lead', () => p.isLeader, 10_000);

    // 10 events every 20 ms; a write that fails (the primary is gone) is tried again.
    let written = 0;
    writer = (async () => {
      while (writing) {
        const next = performance.now() + 20;
        try {
          await insertWorkstreamRows(db!, 10, 50, written);
          written += 10;
        } catch {
          // during the failover
        }
        await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      }
    })();
    const published = async () => metric((await probe(p.metricsPort, '/metrics')).body, 'statehub_pump_published_total') ?? 0;
    await waitFor('events published', async () => (await published()) > 200, 10_000);
    const { standbys } = await outboxStatus(db, waitForStandbys);

    await cluster.freezeReplication();
    const frozenUntil = performance.now() + FREEZE_MS;
    let frozenDetail = '';
    while (performance.now() < frozenUntil) {
      frozenDetail = p.readiness().detail;
      await new Promise((r) => setTimeout(r, 100));
    }
    const frozenWaitSeconds = metric((await probe(p.metricsPort, '/metrics')).body, 'statehub_pump_standby_wait_seconds') ?? -1;
    await cluster.crashPrimary();
    await cluster.promoteStandby();
    const promotedAt = performance.now();
    const base = await published();
    await waitFor('the pump to publish from the promoted standby', async () => (await published()) > base, 20_000, 25);
    const followMs = performance.now() - promotedAt;
    await new Promise((r) => setTimeout(r, 1000)); // keep writing on the new primary
    writing = false;
    await writer;
    await waitFor('every event on the survivor delivered', () => allDelivered(db!), 30_000);
    const { rows } = await db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox');
    const batch = await db.query<{ db_timeline: number }>('SELECT db_timeline FROM statehub.outbox_batches ORDER BY id DESC LIMIT 1');
    const stream = await readStream(nc);
    return { stream, survivors: rows.map((r) => r.event_id), followMs, frozenDetail, frozenWaitSeconds, standbys, newestBatchTimeline: batch.rows[0]!.db_timeline };
  } finally {
    writing = false;
    await writer;
    await pump?.stop();
    await db?.close();
    await nc?.close();
    await nats?.close();
    await cluster?.close();
  }
}

function count(o: Outcome) {
  const survivors = new Set(o.survivors);
  const ids = o.stream.map((m) => m.envelope.id);
  const onStream = new Set(ids);
  return {
    twice: ids.length - onStream.size,
    ghosts: ids.filter((id) => !survivors.has(id)).length,
    lost: o.survivors.filter((id) => !onStream.has(id)).length,
  };
}

describe('pump across a PostgreSQL failover (primary crashed, standby promoted)', function () {
  this.timeout(180_000);

  it(`PUMP_WAIT_FOR_STANDBYS=1: the same pump follows within ${FOLLOW_MS / 1000} s; 0 ghosts, 0 lost, 0 twice; the headers show the new timeline`, async function () {
    const o = await failover(1);
    const c = count(o);
    console.log(`      followed ${Math.round(o.followMs)} ms after the promotion; ${o.stream.length} events on the stream, ${c.ghosts} ghosts`);
    expect(o.frozenDetail, 'readiness says why events wait while no standby confirms').to.match(
      /^not ready: waiting \d+ s for 1 standby\(s\) to flush the WAL \(PUMP_WAIT_FOR_STANDBYS\): 2 streaming, 0 flushed to [0-9A-F]+\/[0-9A-F]+; events wait in the outbox$/,
    );
    expect(o.frozenWaitSeconds, 'the replication-wait gauge').to.be.above(2);
    expect(o.standbys, 'outbox status (how many have all WAL depends on the instant)').to.deep.include({ streaming: 2, hidden: 0, wait_for: 1 });
    expect(c).to.deep.equal({ twice: 0, ghosts: 0, lost: 0 });
    expect(o.followMs).to.be.at.most(FOLLOW_MS);
    const systems = new Set(o.stream.map((m) => m.origin.system));
    expect(systems.size, 'one database system throughout: a failover keeps it').to.equal(1);
    expect([...systems][0]).to.match(/^\d+$/);
    const timelines = new Set(o.stream.map((m) => m.origin.timeline));
    expect([...timelines].sort(), 'events before the failover on timeline 1, after it on 2').to.deep.equal(['1', '2']);
    expect(o.newestBatchTimeline, 'the batch rows say where they were recorded').to.equal(2);
  });

  it('PUMP_WAIT_FOR_STANDBYS=0 (asynchronous replication, no wait): ghosts reach the stream, none lost, none twice', async function () {
    const o = await failover(0);
    const c = count(o);
    console.log(`      ${c.ghosts} ghosts after ${FREEZE_MS / 1000} s of frozen replication at 500 events/s`);
    expect(c.ghosts, 'the frozen seconds were published and are gone from the survivor').to.be.greaterThan(0);
    expect(c.lost).to.equal(0);
    expect(c.twice).to.equal(0);
  });
});
