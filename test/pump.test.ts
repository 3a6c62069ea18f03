// The pump in-process against a real PostgreSQL and a private nats-server: envelopes, ordering,
// late commits, and recovery from NATS and PostgreSQL faults. Outbox rows are written in SQL.
import { expect } from 'chai';
import type { NatsConnection } from 'nats';
import { BATCH_OF_ROW } from '../src/cli/tools/status.ts';
import { loadConfig } from '../src/config.ts';
import { DEFAULT_PUBLISHER, type Envelope } from '../src/events/catalog.ts';
import { silentLogger } from '../src/logger.ts';
import { startPump, StreamConfigError, type PumpHandle } from '../src/pump/index.ts';
import type { NatsServer } from './helpers/nats-server.ts';
import { allDelivered, countRows, delay, insertWorkstreamRows, metric, PUBLISHED, publishedEventIds, readStream, usePump, waitFor } from './helpers/pump.ts';
import pg from 'pg';

describe('pump: outbox to JetStream', function () {
  const f = usePump();
  let nats: NatsServer;
  let nc: NatsConnection;
  let pump: PumpHandle;
  before(function () {
    ({ nats, nc, pump } = f);
  });

  /**
   * Every published row is in the stream exactly once, nothing else is, and each sits inside the
   * sequence range its batch recorded: the first whose snapshot sees it, or that recorded its
   * delta part way through its id (as `outbox status --event` finds it).
   */
  async function expectStreamMatchesOutbox(): Promise<Map<string, number>> {
    const messages = await readStream(nc);
    const ids = messages.map((m) => m.msgId);
    expect(new Set(ids).size, 'distinct ids in the stream').to.equal(ids.length);
    const published = await publishedEventIds(f.db);
    expect([...ids].sort(), 'the stream holds exactly the published events').to.deep.equal([...published].sort());
    const seqById = new Map(messages.map((m) => [m.msgId!, m.seq]));
    const { rows } = await f.db.query<{ event_id: string; stream: string; first_seq: number; last_seq: number }>(
      `SELECT o.event_id, b.stream, b.first_seq, b.last_seq FROM statehub.outbox o CROSS JOIN LATERAL (${BATCH_OF_ROW}) AS b WHERE ${PUBLISHED}`,
    );
    expect(rows).to.have.length(published.length);
    for (const r of rows) {
      expect(r.stream, `stream of ${r.event_id}'s batch`).to.equal('ACTIVITY_EVENTS');
      expect(seqById.get(r.event_id), `sequence of ${r.event_id}`).to.be.within(r.first_seq, r.last_seq);
    }
    return seqById;
  }

  const allPublished = () => allDelivered(f.db);

  it('publishes an event of each kind with the exact envelope, Nats-Msg-Id = envelope id', async function () {
    const events: Array<[string, string, Record<string, unknown>]> = [
      ['org.statehub.repo.registered', 'repo:1', { repo_id: 1, repo_slug: 'hub', domain_slug: 'core', remote_url: null, local_path: '/srv/hub' }],
      ['org.statehub.workstream.completed', 'workstream:2', { workstream_id: 2, slug: 'ws', title: 'Ship it', topic_id: 3, repo_id: 1, repo_goal_id: null }],
      ['org.statehub.decision.resolved', 'decision:4', { decision_id: 4, title: 'Use NATS', topic_id: null, workstream_id: 2, decided_by: 'lead', rationale_snippet: 'because' }],
      ['org.statehub.domain.goal.activated', 'domain:5', { goal_id: 6, domain_id: 5, domain_slug: 'core', title: 'Goal', superseded_goal_ids: [1, 2] }],
      ['org.statehub.task.stale', 'task:7', { task_id: 7, workstream_id: 2, workstream_status: 'completed', task_title: 'Old task', task_status_before: 'blocked' }],
    ];
    const expected: Envelope[] = [];
    for (const [subject, key, attributes] of events) {
      const { rows } = await f.db.query<{ event_id: string; occurred_at: Date }>(
        'INSERT INTO statehub.outbox (subject, ordering_key, attributes) VALUES ($1, $2, $3) RETURNING event_id, occurred_at',
        [subject, key, attributes],
      );
      const r = rows[0]!;
      expected.push({ id: r.event_id, type: subject, version: '1.0', timestamp: r.occurred_at.toISOString(), publisher: DEFAULT_PUBLISHER, attributes } as Envelope);
    }
    await waitFor('5 events published', allPublished, 10_000);
    const messages = await readStream(nc);
    expect(messages.map((m) => m.envelope)).to.deep.equal(expected);
    expect(messages.map((m) => m.msgId)).to.deep.equal(expected.map((e) => e.id));
    expect(messages.map((m) => m.subject)).to.deep.equal(expected.map((e) => e.type));
    const { rows } = await f.db.query('SELECT sum(published)::int AS published, sum(parked)::int AS parked FROM statehub.outbox_batches WHERE previous_id IS NOT NULL');
    expect(rows[0]).to.deep.equal({ published: 5, parked: 0 });
    await expectStreamMatchesOutbox();
  });

  const busy = async () => (await f.db.query<{ busy: boolean }>('SELECT busy FROM statehub.outbox_pump_state')).rows[0]!.busy;

  /** Once idle, a lone row reaches the stream within a second: only a NOTIFY can wake the pump that fast. */
  async function expectNotifyWakesIt(times: number, offset: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      await waitFor('busy = false once the outbox stays empty', async () => !(await busy()), 5000);
      const started = Date.now();
      await insertWorkstreamRows(f.db, 1, 1, offset + i);
      await waitFor('the lone row published', allPublished, 1000, 5);
      expect(Date.now() - started).to.be.below(1000);
    }
  }

  it('hands wake-ups back to NOTIFY when idle: a lone row is published within a second (the poll is a minute)', async function () {
    await expectNotifyWakesIt(3, 900);
  });

  it('serves /healthz, /readyz (leader) and /metrics', async function () {
    const base = `http://127.0.0.1:${pump.metricsPort}`;
    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).to.equal(200);
    expect(await ready.text()).to.equal('leader\n');
    const scrape = async () => (await fetch(`${base}/metrics`)).text();
    // Counted from here, so what earlier tests published does not matter.
    const before = await scrape();
    await insertWorkstreamRows(f.db, 3, 3, 7000);
    await waitFor('the three rows delivered', () => allDelivered(f.db), 10_000);
    const deliveredAt = Date.now();
    const after = await scrape();
    for (const name of ['statehub_pump_published_total', 'statehub_pump_capture_to_ack_seconds_count']) {
      expect(metric(after, name), name).to.equal(metric(before, name)! + 3);
    }
    expect(metric(after, 'statehub_pump_publish_errors_total')).to.equal(0);
    expect(metric(after, 'statehub_pump_leader')).to.equal(1);
    // The backlog gauges show the background reading: the first one taken after the delivery says 0.
    await waitFor('a backlog reading taken after the delivery', async () => {
      const text = await scrape();
      return metric(text, 'statehub_outbox_backlog_sample_age_seconds')! * 1000 < Date.now() - deliveredAt;
    }, 10_000, 100);
    const settled = await scrape();
    expect(metric(settled, 'statehub_outbox_backlog')).to.equal(0);
    expect(metric(settled, 'statehub_outbox_oldest_unpublished_age_seconds')).to.equal(0);
    expect(metric(settled, 'statehub_outbox_backlog_up')).to.equal(1);
  });

  it('publishes a row that took a lower id but committed after later rows were published', async function () {
    const late = new pg.Client({ connectionString: f.url });
    await late.connect();
    try {
      await late.query('BEGIN');
      const { rows } = await late.query<{ id: number }>(
        `INSERT INTO statehub.outbox (subject, ordering_key, attributes) VALUES ('org.statehub.workstream.completed', 'workstream:late', $1) RETURNING id`,
        [{ workstream_id: 100, slug: 'late', title: 'late', topic_id: 1, repo_id: null, repo_goal_id: null }],
      );
      const lateId = rows[0]!.id;
      await insertWorkstreamRows(f.db, 20, 5, 1000);
      await waitFor('the later rows published', () => countRows(f.db, `${PUBLISHED} AND id > ${lateId}`).then((n) => n === 20), 10_000);
      await late.query('COMMIT');
      await waitFor('the late row published', () => countRows(f.db, `${PUBLISHED} AND id = ${lateId}`).then((n) => n === 1), 10_000);
    } finally {
      await late.end();
    }
    await expectStreamMatchesOutbox();
  });

  it('keeps capture order per ordering_key with concurrent writers', async function () {
    // Each writer holds a per-key lock from insert to commit, as the entity's row lock does.
    const writers = await Promise.all(Array.from({ length: 6 }, async () => {
      const c = new pg.Client({ connectionString: f.url });
      await c.connect();
      return c;
    }));
    try {
      await Promise.all(writers.map(async (c, w) => {
        for (let i = 0; i < 80; i++) {
          const key = `workstream:order-${(w * 7 + i) % 8}`;
          await c.query('BEGIN');
          await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
          await c.query(`INSERT INTO statehub.outbox (subject, ordering_key, attributes) VALUES ('org.statehub.workstream.completed', $1, $2)`, [
            key,
            { workstream_id: 1 + w * 1000 + i, slug: 's', title: 't', topic_id: 1, repo_id: null, repo_goal_id: null },
          ]);
          if (i % 5 === 0) await delay(2);
          await c.query('COMMIT');
        }
      }));
    } finally {
      await Promise.all(writers.map((c) => c.end()));
    }
    await waitFor('480 rows published', allPublished, 20_000);
    const seqById = await expectStreamMatchesOutbox();
    const { rows } = await f.db.query<{ id: number; event_id: string; ordering_key: string }>(
      `SELECT id, event_id, ordering_key FROM statehub.outbox WHERE ordering_key LIKE 'workstream:order-%' ORDER BY id`,
    );
    expect(rows).to.have.length(480);
    const lastSeq = new Map<string, number>();
    for (const r of rows) {
      const seq = seqById.get(r.event_id)!;
      expect(seq, `row ${r.id} of ${r.ordering_key} after its predecessor`).to.be.greaterThan(lastSeq.get(r.ordering_key) ?? 0);
      lastSeq.set(r.ordering_key, seq);
    }
  });

  it('loses nothing when its PostgreSQL connections are terminated during a burst', async function () {
    const burst = (async () => {
      for (let i = 0; i < 40; i++) {
        await insertWorkstreamRows(f.db, 50, 50, 10_000 + i * 50);
        await delay(5);
      }
    })();
    // Kill whatever pump connections exist at three moments of the burst (between kills some
    // may still be reconnecting, so only the total must be positive).
    let killed = 0;
    try {
      for (let k = 0; k < 3; k++) {
        await delay(60);
        const { rows } = await f.db.query<{ n: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND application_name LIKE 'statehub-pump%'`,
        );
        killed += rows[0]!.n;
      }
    } finally {
      await burst;
    }
    expect(killed).to.be.greaterThan(0);
    await waitFor('the burst published after the kills', allPublished, 30_000);
    await waitFor('leadership regained', () => pump.isLeader, 5000);
    await expectStreamMatchesOutbox();
    await expectNotifyWakesIt(1, 20_000); // LISTEN is back on the new connection
  });

  it('delivers 5,000 rows added while NATS was down, each exactly once', async function () {
    const before = await countRows(f.db, 'true');
    await nats.stop();
    for (let i = 0; i < 10; i++) await insertWorkstreamRows(f.db, 500, 300, 50_000 + i * 500);
    await delay(500);
    expect(await countRows(f.db, `NOT (${PUBLISHED})`)).to.equal(5000);
    await nats.start();
    await waitFor('5,000 rows published after NATS came back', allPublished, 60_000);
    expect(await countRows(f.db, 'true')).to.equal(before + 5000);
    await expectStreamMatchesOutbox();
  });

  it('spares writers the NOTIFY while NATS is down: the leader sets busy, and looks again once NATS is back', async function () {
    await waitFor('the pump idle, wake-ups handed back', async () => (await allPublished()) && !(await busy()), 10_000);
    const listener = new pg.Client({ connectionString: f.url });
    await listener.connect();
    let stopped = false;
    try {
      await listener.query('LISTEN statehub_outbox');
      const received: string[] = [];
      listener.on('notification', (m) => received.push(m.payload ?? ''));
      await nats.stop();
      stopped = true;
      // The pump must know first: a delta opened before it noticed would set busy on its own.
      await waitFor('the pump sees NATS down', async () => pump.readiness().detail.includes('NATS disconnected'), 10_000);
      expect(await busy(), 'busy before the outage').to.equal(false);
      // This event still notifies (the flag is false); the leader wakes and finds it cannot publish.
      await insertWorkstreamRows(f.db, 1, 1, 90_000);
      await waitFor('the leader sets busy while it cannot publish', busy, 10_000);
      received.length = 0;
      await insertWorkstreamRows(f.db, 20, 20, 90_001);
      // Notifications leave in commit order: once this marker is here, any the writer sent would be too.
      await f.db.query(`SELECT pg_notify('statehub_outbox', 'marker')`);
      await waitFor('the marker notification', async () => received.includes('marker'), 10_000);
      expect(received, 'notifications from writers during the outage').to.deep.equal(['marker']);
      await nats.start();
      stopped = false;
      await waitFor('the outage events published once NATS is back', allPublished, 30_000);
      await waitFor('wake-ups handed back to the writers', async () => !(await busy()), 10_000);
      await expectStreamMatchesOutbox();
    } finally {
      await listener.end();
      if (stopped) await nats.start(); // for the tests after this one
    }
  });

  it('refuses to start when the stream exists with subjects that cannot hold org.statehub.>', async function () {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'OTHER', subjects: ['other.>'] });
    let error: unknown;
    try {
      const p = await startPump(loadConfig({ DATABASE_URL: f.url, NATS_URL: nats.url, STREAM_NAME: 'OTHER', PUMP_METRICS_PORT: '0' }), silentLogger());
      await p.stop();
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(StreamConfigError);
    expect((error as Error).message).to.match(/OTHER.*other\.>.*org\.statehub\.>/);
    expect((await jsm.streams.info('OTHER')).config.subjects).to.deep.equal(['other.>']);
  });

  it('stop() leaves no connection behind, even when it lands while the pump is reconnecting', async function () {
    const pumpConnections = async () =>
      (
        await f.db.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'statehub-pump%'`,
        )
      ).rows.map((r) => r.pid);
    const fixture = new Set(await pumpConnections());
    const ofSecond = async () => (await pumpConnections()).filter((pid) => !fixture.has(pid));
    const second = await startPump(loadConfig({ DATABASE_URL: f.url, NATS_URL: nats.url, PUMP_METRICS_PORT: '0' }), silentLogger());
    try {
      await waitFor('its listener and leader connections', async () => (await ofSecond()).length >= 2, 5000);
      await f.db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)', [await ofSecond()]);
    } finally {
      await second.stop();
    }
    await waitFor('its connections gone', async () => (await ofSecond()).length === 0, 5000);
    await delay(2500); // longer than pg-listen's own reconnect attempts
    expect(await ofSecond()).to.deep.equal([]);
  });
});
