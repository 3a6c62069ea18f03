// Advisory locks have no privileges: any login can take the pump's leader lock or the capture
// handshake lock. A foreign leader-lock holder is reported (/readyz, metrics, outbox status)
// until it goes; one holding the handshake lock exclusively stalls no writer; a writer idle in
// its transaction makes the pump's hand-back back off rather than spin.
import { expect } from 'chai';
import { connect, type NatsConnection } from 'nats';
import pg from 'pg';
import { outboxStatus } from '../src/cli/tools/status.ts';
import { loadConfig } from '../src/config.ts';
import { WAKE_LOCK_KEY } from '../src/events/wake.ts';
import { silentLogger } from '../src/logger.ts';
import { startPump, type PumpHandle } from '../src/pump/index.ts';
import { LEADER_LOCK } from '../src/pump/lock-holder.ts';
import { useTestDatabase } from './helpers/database.ts';
import { capturingLogger } from './helpers/log.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { allDelivered, delay, insertWorkstreamRows, metric, probe, usePump, waitFor } from './helpers/pump.ts';

describe('pump: a session that is not a pump holds the leader lock', function () {
  this.timeout(30_000);
  let nats: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let pump: PumpHandle | undefined;
  let intruder: pg.Client | undefined;
  after(async function () {
    await pump?.stop();
    await intruder?.end().catch(() => undefined);
    await nc?.close();
    await nats?.close();
  });
  const t = useTestDatabase();

  it('is reported on /readyz, in the metrics and by outbox status, and a pump leads once it is gone', async function () {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    intruder = new pg.Client({ connectionString: t.url, application_name: 'psql-by-hand' });
    intruder.on('error', () => undefined); // terminated below, on purpose
    await intruder.connect();
    await intruder.query('SELECT pg_advisory_lock($1, $2)', [...LEADER_LOCK]);
    const pid = (await intruder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    pump = await startPump(loadConfig({ DATABASE_URL: t.url, NATS_URL: nats.url, PUMP_METRICS_PORT: '0', PUMP_POLL_INTERVAL: '1m' }), silentLogger());

    // Not just "not ready" (the listener may still be connecting): not ready for this reason.
    await waitFor('the foreign holder reported', () => pump!.readiness().detail.includes('not a pump'), 10_000);
    const ready = await probe(pump.metricsPort, '/readyz');
    expect(ready.status).to.equal(503);
    expect(ready.body).to.include(`not a pump (pid ${pid}`).and.include('application "psql-by-hand"').and.include(`pg_terminate_backend(${pid})`);
    const metrics = (await probe(pump.metricsPort, '/metrics')).body;
    expect(metric(metrics, 'statehub_pump_leader_lock_foreign')).to.equal(1);
    expect(metric(metrics, 'statehub_pump_leader')).to.equal(0);
    expect((await outboxStatus(t.db)).leader_lock).to.deep.include({ pid, application: 'psql-by-hand', pump: false });

    await t.db.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor('a pump leads', () => pump!.isLeader, 10_000);
    expect(pump.readiness()).to.deep.equal({ ready: true, detail: 'leader' });
    expect(metric((await probe(pump.metricsPort, '/metrics')).body, 'statehub_pump_leader_lock_foreign')).to.equal(0);
    expect((await outboxStatus(t.db)).leader_lock).to.deep.include({ application: 'statehub-pump-leader', pump: true });
  });
});

describe('pump: the capture handshake lock held by others', function () {
  this.timeout(30_000);
  const { log, lines } = capturingLogger('debug');
  const clients: pg.Client[] = [];
  // Registered first, so it runs before the database is dropped.
  after(async () => {
    for (const c of clients.splice(0)) await c.end().catch(() => undefined);
  });
  const f = usePump(undefined, { log });
  const session = async () => {
    const c = new pg.Client({ connectionString: f.url });
    await c.connect();
    clients.push(c);
    return c;
  };

  it('held exclusively by another session: writers do not wait for it, and their events are published', async function () {
    const holder = await session();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [WAKE_LOCK_KEY]);
    const writer = await session();
    await writer.query("SET statement_timeout = '2s'");
    await insertWorkstreamRows(writer, 3, 3, 9000);
    await waitFor('the events published', () => allDelivered(f.db), 10_000);
    await holder.query('SELECT pg_advisory_unlock_all()');
  });

  it('a writer idle in its transaction: the hand-back backs off, and other writers\' events still flow', async function () {
    const idle = await session();
    await idle.query('BEGIN');
    await insertWorkstreamRows(idle, 1, 1, 9100); // holds the handshake lock shared until it ends
    // Another writer's events wake the pump; once they are out it tries to hand back, and cannot.
    await insertWorkstreamRows(f.db, 2, 2, 9200);
    // The idle transaction's row is invisible until it commits: what is visible is all delivered.
    await waitFor('the other writer\'s events published', () => allDelivered(f.db), 10_000);
    const settleTries = () => lines.filter((l) => l.includes('pg_try_advisory_xact_lock')).length;
    const before = settleTries();
    await delay(3000);
    const tries = settleTries() - before;
    expect(tries, 'tries for the handshake lock in 3 s').to.be.below(100);
    expect(tries, 'the pump keeps trying').to.be.above(3);
    await insertWorkstreamRows(f.db, 2, 2, 9300);
    await waitFor('later events published meanwhile', () => allDelivered(f.db), 10_000);
    await idle.query('COMMIT');
    await waitFor('everything published', () => allDelivered(f.db), 10_000);
  });
});
