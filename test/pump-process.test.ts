// `statehub pump` as a child process, where signals matter: SIGKILL mid-backlog, failover
// between two pumps, SIGTERM, no NATS configured, bad configuration and credentials.
import { expect } from 'chai';
import { eventStatus } from '../src/cli/tools/status.ts';
import { backlog } from '../src/pump/backlog.ts';
import { connect, type NatsConnection } from 'nats';
import { useTestDatabase } from './helpers/database.ts';
import { writeCredsFiles } from './helpers/creds.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import {
  countRows,
  pendingCount,
  PUBLISHED,
  delay,
  insertWorkstreamRows,
  metric,
  metricsPortOf,
  probe,
  readStream,
  reconnected,
  spawnPump,
  STREAM,
  waitFor,
  type PumpProcess,
} from './helpers/pump.ts';

describe('pump process: crashes, failover and signals', function () {
  let nats: NatsServer;
  let nc: NatsConnection;
  const children: PumpProcess[] = [];
  after(async function () {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await nc?.close();
    await nats?.close();
  });
  const t = useTestDatabase();

  before(async function () {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  });

  beforeEach(async function () {
    await t.db.query('TRUNCATE statehub.outbox');
    await reconnected(nc); // after the outage test
    await (await nc.jetstreamManager()).streams.delete(STREAM).catch(() => undefined);
  });

  afterEach(async function () {
    for (const c of children.splice(0)) {
      c.kill('SIGKILL');
      await c.exited;
    }
  });

  function pump(extra: Record<string, string> = {}): PumpProcess {
    const p = spawnPump({ DATABASE_URL: t.url, NATS_URL: nats.url, ...extra });
    children.push(p);
    return p;
  }

  const published = () => countRows(t.db, PUBLISHED);
  const inStream = async () => (await (await nc.jetstreamManager()).streams.info(STREAM).catch(() => undefined))?.state.messages ?? 0;
  /** What the batches recorded after batch `after`: events, and PubAcks flagged duplicate. */
  const batchesAfter = async (after: number) =>
    (
      await t.db.query<{ events: number; duplicates: number }>(
        'SELECT coalesce(sum(events), 0)::int AS events, coalesce(sum(duplicates), 0)::int AS duplicates FROM statehub.outbox_batches WHERE id > $1',
        [after],
      )
    ).rows[0]!;
  const lastBatch = async () => (await t.db.query<{ id: number }>('SELECT max(id)::int AS id FROM statehub.outbox_batches')).rows[0]!.id;

  /** The stream holds each outbox row exactly once and the bookkeeping agrees with it. */
  async function expectExactlyOnce(total: number): Promise<void> {
    const messages = await readStream(nc);
    const ids = new Set(messages.map((m) => m.msgId));
    expect(messages.length, 'messages in the stream').to.equal(total);
    expect(ids.size, 'distinct ids in the stream').to.equal(total);
    const { rows } = await t.db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox');
    expect(rows.every((r) => ids.has(r.event_id)), 'every outbox row is in the stream').to.equal(true);
  }

  it('SIGKILLed after PubAcks but before its batch row: the restart re-publishes only that delta, and the stream holds each event once', async function () {
    const first = pump({ PUMP_BATCH_SIZE: '500' });
    await insertWorkstreamRows(t.db, 5000, 500);
    await waitFor('a first delta recorded', async () => (await published()) === 5000, 30_000, 10);
    const recorded = await lastBatch();
    await insertWorkstreamRows(t.db, 20_000, 2000, 5000); // one delta of 20,000
    await waitFor('part of the second delta acked', async () => (await inStream()) >= 8000, 30_000, 5);
    first.kill('SIGKILL');
    expect(await first.exited).to.equal('SIGKILL');
    expect(await published(), 'the second delta was not recorded').to.equal(5000);
    const second = pump();
    await waitFor('all 25,000 rows published', async () => (await published()) === 25_000, 60_000);
    await expectExactlyOnce(25_000);
    const redone = await batchesAfter(recorded);
    expect(redone.events, 'exactly the unfinished delta was delivered again').to.equal(20_000);
    expect(redone.duplicates, 'what the killed pump had published came back as duplicates').to.be.at.least(3000);
    second.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
  });

  it('a large delta is recorded part way while it is published: killed, the restart re-publishes only what came after', async function () {
    const first = pump({ PUMP_MAX_IN_FLIGHT: '1' }); // slow: one publish at a time
    await metricsPortOf(first);
    const recorded = await lastBatch();
    await insertWorkstreamRows(t.db, 20_000, 2000);
    const partial = async () =>
      (
        await t.db.query<{ events: number; through: number | null }>(
          'SELECT coalesce(sum(events), 0)::int AS events, max(through_id)::int AS through FROM statehub.outbox_batches WHERE id > $1 AND through_id IS NOT NULL',
          [recorded],
        )
      ).rows[0]!;
    await waitFor('a part of the delta recorded', async () => (await partial()).events >= 1000, 60_000, 20);
    first.kill('SIGKILL');
    await first.exited;
    const killed = await partial();
    const killedLast = await lastBatch();
    expect(killed.through, 'the delta is recorded through an id').to.be.a('number');
    // The backlog and the status of one event see the part recorded.
    expect((await backlog(t.db)).pending).to.equal(20_000 - killed.events);
    const { rows: early } = await t.db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox WHERE id <= $1 ORDER BY id DESC LIMIT 1', [killed.through]);
    expect((await eventStatus(t.db, early[0]!.event_id))?.state).to.equal('published');
    const second = pump();
    await waitFor('all 20,000 rows published', async () => (await published()) === 20_000, 60_000);
    await expectExactlyOnce(20_000);
    const redone = await batchesAfter(killedLast);
    expect(redone.events + killed.events, 'each event recorded once').to.equal(20_000);
    expect(redone.events, 'the restart delivered only what came after the recorded part').to.equal(20_000 - killed.events);
    second.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
  });

  it('two pumps: exactly one publishes, and the other takes over within 5 s of its death', async function () {
    const a = pump();
    const b = pump();
    const [portA, portB] = await Promise.all([metricsPortOf(a), metricsPortOf(b)]);
    await waitFor('a leader', async () => [await probe(portA, '/readyz'), await probe(portB, '/readyz')].some((r) => r.body === 'leader\n'), 20_000);
    await insertWorkstreamRows(t.db, 1000, 100);
    await waitFor('1,000 rows published', async () => (await published()) === 1000, 20_000);
    const [ma, mb] = [(await probe(portA, '/metrics')).body, (await probe(portB, '/metrics')).body];
    const leaderIsA = metric(ma, 'statehub_pump_leader') === 1;
    expect(metric(ma, 'statehub_pump_leader')! + metric(mb, 'statehub_pump_leader')!, 'leaders').to.equal(1);
    expect(metric(leaderIsA ? ma : mb, 'statehub_pump_published_total')).to.equal(1000);
    expect(metric(leaderIsA ? mb : ma, 'statehub_pump_published_total')).to.equal(0);
    expect((await probe(leaderIsA ? portB : portA, '/readyz')).body).to.equal('standby\n');

    const [leader, standby, standbyPort] = leaderIsA ? [a, b, portB] : [b, a, portA];
    leader.kill('SIGKILL');
    const killedAt = Date.now();
    await leader.exited;
    await insertWorkstreamRows(t.db, 100, 10, 1000);
    await waitFor('the standby to publish', async () => (await published()) === 1100, 5000, 20);
    expect(Date.now() - killedAt, 'takeover time').to.be.below(5000);
    expect((await probe(standbyPort, '/readyz')).body).to.equal('leader\n');
    await expectExactlyOnce(1100);
    standby.kill('SIGTERM');
    expect(await standby.exited).to.equal(0);
  });

  it('SIGTERM: finishes the delta in flight, records it, hands NOTIFY back and exits 0', async function () {
    const p = pump({ PUMP_BATCH_SIZE: '500' });
    await metricsPortOf(p);
    await insertWorkstreamRows(t.db, 20_000, 2000);
    await waitFor('the delta under way', async () => (await inStream()) >= 1000, 30_000, 5);
    p.kill('SIGTERM');
    expect(await p.exited, p.output()).to.equal(0);
    // The whole delta went out and was recorded: nothing is left to publish again.
    expect(await published()).to.equal(20_000);
    expect(await inStream()).to.equal(20_000);
    const { rows } = await t.db.query('SELECT busy FROM statehub.outbox_pump_state');
    expect(rows[0]).to.deep.equal({ busy: false });
    expect(p.output()).to.match(/"message":"pump stopped"/);
  });

  it('SIGTERM during a NATS outage still exits 0 within the shutdown timeout', async function () {
    await insertWorkstreamRows(t.db, 100, 10);
    const p = pump({ PUMP_SHUTDOWN_TIMEOUT: '3s' });
    await waitFor('the rows published', async () => (await published()) === 100, 30_000);
    await nats.stop();
    try {
      await insertWorkstreamRows(t.db, 100, 10, 100);
      await delay(500);
      const signalledAt = Date.now();
      p.kill('SIGTERM');
      expect(await p.exited, p.output()).to.equal(0);
      expect(Date.now() - signalledAt).to.be.below(8000);
    } finally {
      await nats.start();
    }
    expect(await published()).to.equal(100);
  });

  it('without NATS_URL: stays up, ready as standby, publishes nothing; events wait in the outbox', async function () {
    const p = pump({ NATS_URL: '' });
    const port = await metricsPortOf(p);
    await insertWorkstreamRows(t.db, 10, 10);
    await waitFor('ready', async () => (await probe(port, '/readyz')).status === 200, 10_000);
    expect((await probe(port, '/readyz')).body).to.equal('standby (NATS not configured)\n');
    await delay(1500);
    expect(p.child.exitCode).to.equal(null);
    expect(await published()).to.equal(0);
    expect(await pendingCount(t.db)).to.equal(10);
    expect(p.output()).to.match(/NATS_URL is not set/);
    p.kill('SIGTERM');
    expect(await p.exited).to.equal(0);
  });

  it('a missing or malformed NATS_CREDS_FILE: exit 2 within seconds with one line naming it, no retrying', async function () {
    const creds = writeCredsFiles();
    try {
      for (const file of [creds.missing, creds.malformed]) {
        const p = pump({ NATS_CREDS_FILE: file });
        const outcome = await Promise.race([p.exited, delay(5000).then(() => 'still running after 5 s')]);
        expect(outcome, p.output()).to.equal(2);
        expect(p.output().trim().split('\n'), p.output()).to.have.length(1);
        expect(p.output()).to.match(/^statehub: invalid configuration: NATS_CREDS_FILE: /);
      }
    } finally {
      creds.remove();
    }
  });

  it('bad configuration: one line on stderr and exit code 2', async function () {
    const p = pump({ PUMP_BATCH_SIZE: 'lots' });
    expect(await p.exited).to.equal(2);
    expect(p.output().trim().split('\n')).to.have.length(1);
    expect(p.output()).to.match(/PUMP_BATCH_SIZE/);
  });
});
