// The whole path, checked the way activity-core sees it: transitions made through the HTTP API
// (and the stale-task rule through the CLI) on a migrated database, the real pump running as
// `statehub pump` in a child process, a real nats-server with JetStream, and the stream read
// with a durable pull consumer and explicit acks. Every field of every envelope is compared
// with the catalog and with the outbox row it came from.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import {
  AckPolicy,
  connect,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { makeApp } from '../src/api/app.ts';
import { defaultAccess } from '../src/api/access.ts';
import { catalog, DEFAULT_PUBLISHER, ENVELOPE_VERSION, isSubject, SUBJECTS } from '../src/events/catalog.ts';
import { silentLogger } from '../src/logger.ts';
import { useTestDatabase } from './helpers/database.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'bin', 'statehub.js');
const STREAM = 'ACTIVITY_EVENTS';
const DURABLE = 'activity-core-e2e';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

interface Received {
  subject: string;
  seq: number;
  msgId: string | undefined;
  envelope: Record<string, unknown>;
}

interface OutboxRow {
  event_id: string;
  ordering_key: string;
  subject: string;
  occurred_at: Date;
  /** The batch that delivered it: its stream and sequence range; null while pending. */
  stream: string | null;
  first_seq: number | null;
  last_seq: number | null;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, alive?: () => void): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    alive?.();
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('end to end: API transition → outbox → pump → JetStream → durable consumer', function () {
  this.timeout(120_000);

  let nats: NatsServer | undefined;
  let pump: ChildProcess | undefined;
  let pumpLog = '';
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  let server: Server | undefined;
  let api = '';
  let failed = false;

  // Registered before useTestDatabase() so that it runs first: the pump and the API stop
  // before the database they use is dropped.
  after(async function () {
    this.timeout(30_000);
    if (failed && pumpLog) console.error(`    pump output (last 4000 characters):\n${pumpLog}`);
    if (server) await new Promise<void>((resolve) => (server!.close(() => resolve()), server!.closeAllConnections()));
    await nc?.close();
    const p = pump;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
      p.kill('SIGTERM');
      const force = setTimeout(() => p.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(force);
    }
    await nats?.close();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });

  const tdb = useTestDatabase();

  function pumpAlive(): void {
    if (pump && pump.exitCode !== null) throw new Error(`statehub pump exited with ${pump.exitCode}:\n${pumpLog}`);
  }

  before(async function () {
    nats = await startNatsServer();
    pump = spawn(process.execPath, [cli, 'pump'], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: tdb.url,
        NATS_URL: nats.url,
        STREAM_NAME: STREAM,
        PUMP_METRICS_PORT: '0',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (pumpLog = (pumpLog + d.toString()).slice(-4000));
    pump.stdout?.on('data', keep);
    pump.stderr?.on('data', keep);

    nc = await connect({ servers: nats.url, name: 'e2e-activity-core' });
    jsm = await nc.jetstreamManager();
    js = nc.jetstream();

    server = createServer(makeApp({ db: tdb.db, log: silentLogger(), access: defaultAccess('127.0.0.1') })).listen(0, '127.0.0.1');
    await new Promise<void>((resolve, reject) => (server!.once('listening', resolve), server!.once('error', reject)));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  async function call(method: string, url: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${api}${url}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    expect(res.status, `${method} ${url}: ${JSON.stringify(json)}`).to.be.oneOf([200, 201]);
    return json;
  }

  it('the pump creates the missing stream ACTIVITY_EVENTS with subjects org.> and file storage', async function () {
    const info = await until(
      'the pump to create the stream',
      30_000,
      () => jsm.streams.info(STREAM).catch((err: { code?: string }) => (err.code === '404' ? undefined : Promise.reject(err))),
      pumpAlive,
    );
    expect(info.config.subjects).to.deep.equal(['org.>']);
    expect(info.config.storage).to.equal('file');
  });

  it('each of the five transitions reaches a durable pull consumer once, with the exact catalog envelope', async function () {
    // activity-core's side: a durable consumer with explicit acks, as its EventRouter reads.
    await jsm.consumers.add(STREAM, {
      durable_name: DURABLE,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: 'org.statehub.>',
      ack_wait: 30_000_000_000, // 30 s in nanoseconds
    });

    // Setup that records no event.
    const domain = await call('POST', '/domains', { slug: 'e2e', name: 'End to end' });
    const topic = await call('POST', '/topics', { slug: 'e2e-topic', title: 'E2E topic' });

    // repo.registered
    const repo = await call('POST', '/repos/', { slug: 'e2e-repo', domain_slug: 'e2e', remote_url: 'https://git.example.org/e2e.git' });

    // workstream.completed, leaving one open task behind for the stale rule.
    const ws = await call('POST', '/workstreams', { slug: 'e2e-ws', title: 'E2E workstream', topic_id: topic.id, repo_id: repo.id, status: 'active' });
    const task = await call('POST', '/tasks', { workstream_id: ws.id, title: 'Left over', status: 'in_progress' });
    await call('PATCH', `/workstreams/${ws.id}`, { status: 'completed' });
    await call('PATCH', `/workstreams/${ws.id}`, { title: 'E2E workstream, renamed' }); // not a transition: nothing

    // A completion that is rolled back must never reach the stream.
    const doomed = await call('POST', '/workstreams', { slug: 'e2e-doomed', title: 'Rolled back', topic_id: topic.id });
    const rollback = new Error('roll back on purpose');
    const outcome = await tdb.db
      .tx(async (q) => {
        await q.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1`, [doomed.id]);
        throw rollback;
      })
      .catch((err: unknown) => err);
    expect(outcome).to.equal(rollback);

    // decision.resolved, with a rationale longer than the 280-character snippet.
    const rationale = `${'JetStream gives us durable, replayable delivery. '.repeat(8)}The end.`;
    const decision = await call('POST', '/decisions', { title: 'Use JetStream', workstream_id: ws.id });
    await call('POST', `/decisions/${decision.id}/resolve`, { decided_by: 'alice', rationale });

    // domain.goal.activated twice: the second supersedes the first.
    const g1 = await call('POST', '/domain-goals', { domain_slug: 'e2e', title: 'First goal' });
    await call('POST', `/domain-goals/${g1.id}/activate`);
    const g2 = await call('POST', '/domain-goals', { domain_slug: 'e2e', title: 'Second goal' });
    await call('POST', `/domain-goals/${g2.id}/activate`);

    // task.stale through the real command, as activity-core's nightly definition runs it.
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'cleanup-stale-tasks'], {
      cwd: root,
      env: { PATH: process.env.PATH, DATABASE_URL: tdb.url, LOG_LEVEL: 'warn' },
    });
    expect(stdout).to.match(/cancelled 1 stale task/);

    const expected: Array<[string, Record<string, unknown>]> = [
      ['org.statehub.repo.registered', { repo_id: repo.id, repo_slug: 'e2e-repo', domain_slug: 'e2e', remote_url: 'https://git.example.org/e2e.git', local_path: null }],
      ['org.statehub.workstream.completed', { workstream_id: ws.id, slug: 'e2e-ws', title: 'E2E workstream', topic_id: topic.id, repo_id: repo.id, repo_goal_id: null }],
      ['org.statehub.decision.resolved', { decision_id: decision.id, title: 'Use JetStream', topic_id: null, workstream_id: ws.id, decided_by: 'alice', rationale_snippet: rationale.slice(0, 280) }],
      ['org.statehub.domain.goal.activated', { goal_id: g1.id, domain_id: domain.id, domain_slug: 'e2e', title: 'First goal', superseded_goal_ids: [] }],
      ['org.statehub.domain.goal.activated', { goal_id: g2.id, domain_id: domain.id, domain_slug: 'e2e', title: 'Second goal', superseded_goal_ids: [g1.id] }],
      ['org.statehub.task.stale', { task_id: task.id, workstream_id: ws.id, workstream_status: 'completed', task_title: 'Left over', task_status_before: 'in_progress' }],
    ];

    // Read as a consumer does: fetch in batches, ack each message explicitly after handling it.
    const consumer = await js.consumers.get(STREAM, DURABLE);
    const received: Received[] = [];
    const deadline = Date.now() + 60_000;
    while (received.length < expected.length) {
      pumpAlive();
      if (Date.now() > deadline) throw new Error(`only ${received.length} of ${expected.length} events arrived within 60 s`);
      const batch = await consumer.fetch({ max_messages: 10, expires: 1000 });
      for await (const m of batch as AsyncIterable<JsMsg>) {
        received.push({ subject: m.subject, seq: m.seq, msgId: m.headers?.get('Nats-Msg-Id'), envelope: m.json<Record<string, unknown>>() });
        expect(await m.ackAck(), `ack of stream sequence ${m.seq}`).to.equal(true);
      }
    }

    // Nothing else follows: no duplicate, no event for the rolled-back or non-transition updates.
    const extra: string[] = [];
    for await (const m of (await consumer.fetch({ max_messages: 10, expires: 2000 })) as AsyncIterable<JsMsg>) {
      extra.push(m.string());
      m.ack();
    }
    expect(extra, 'messages after the expected six').to.deep.equal([]);

    expect(new Set(received.map((r) => r.subject))).to.deep.equal(new Set(SUBJECTS), 'all five subjects are covered');

    // Every row is delivered by a batch whose stream and sequence range hold what the consumer saw.
    const rows = await until('the pump to record all six rows delivered', 10_000, async () => {
      const { rows } = await tdb.db.query<OutboxRow>(
        `SELECT o.event_id, o.ordering_key, o.subject, o.occurred_at, b.stream, b.first_seq, b.last_seq
           FROM statehub.outbox o
           LEFT JOIN LATERAL (SELECT * FROM statehub.outbox_batches b WHERE pg_visible_in_snapshot(o.txid, b.snapshot)
                               ORDER BY b.id LIMIT 1) AS b ON true
          ORDER BY o.id`,
      );
      return rows.length === expected.length && rows.every((r) => r.stream !== null) ? rows : undefined;
    });

    // Only order per entity is promised (docs/nats-event-subjects.md); events of different
    // entities may interleave in the stream. Events sharing an ordering key arrived in capture
    // order; then, put in capture order, the events are the transitions we made.
    const captured = new Map(rows.map((row, i) => [row.event_id, i]));
    const byKey = new Map<string, number[]>();
    for (const r of [...received].sort((x, y) => x.seq - y.seq)) {
      const row = rows[captured.get(r.envelope.id as string)!]!;
      byKey.set(row.ordering_key, [...(byKey.get(row.ordering_key) ?? []), captured.get(row.event_id)!]);
    }
    for (const [key, order] of byKey) expect(order, `stream order of ${key}`).to.deep.equal([...order].sort((a, b) => a - b));
    received.sort((x, y) => captured.get(x.envelope.id as string)! - captured.get(y.envelope.id as string)!);
    expect(received.map((r) => r.subject)).to.deep.equal(expected.map(([s]) => s));

    received.forEach((r, i) => {
      const [subject, attributes] = expected[i]!;
      const row = rows[i]!;
      const e = r.envelope;
      const where = `${subject} (#${i + 1})`;

      expect(Object.keys(e).sort(), `${where}: envelope fields`).to.deep.equal(['attributes', 'id', 'publisher', 'timestamp', 'type', 'version']);
      expect(e.id, `${where}: id`).to.be.a('string').and.match(UUID_V4);
      expect(e.id, `${where}: id is the outbox event_id`).to.equal(row.event_id);
      expect(r.msgId, `${where}: Nats-Msg-Id is the envelope id`).to.equal(e.id);
      expect(e.type, `${where}: type`).to.equal(subject);
      expect(r.subject, `${where}: NATS subject is the type`).to.equal(subject);
      expect(e.version, `${where}: version`).to.equal(ENVELOPE_VERSION).and.equal('1.0');
      expect(e.publisher, `${where}: publisher`).to.equal(DEFAULT_PUBLISHER).and.equal('the-custodian/state-hub');
      expect(e.timestamp, `${where}: timestamp`).to.be.a('string').and.match(RFC3339_UTC);
      expect(e.timestamp, `${where}: timestamp is the transition's time`).to.equal(row.occurred_at.toISOString());

      expect(isSubject(subject)).to.equal(true);
      if (!isSubject(subject)) return;
      const parsed = catalog[subject].safeParse(e.attributes);
      expect(parsed.success, `${where}: attributes match the catalog schema: ${JSON.stringify(parsed.error?.issues)}`).to.equal(true);
      expect(e.attributes, `${where}: attribute values`).to.deep.equal(attributes);

      expect(row.subject).to.equal(subject);
      expect(row.stream, `${where}: its batch's stream`).to.equal(STREAM);
      expect(r.seq, `${where}: inside its batch's sequence range`).to.be.within(row.first_seq!, row.last_seq!);
    });

    expect(new Set(received.map((r) => r.envelope.id)).size, 'ids are distinct').to.equal(expected.length);

    // The consumer is fully caught up: everything delivered was acknowledged.
    const info = await jsm.consumers.info(STREAM, DURABLE);
    expect(info.num_pending, 'messages not yet delivered').to.equal(0);
    expect(info.num_ack_pending, 'messages delivered but not acknowledged').to.equal(0);
    expect(info.ack_floor.stream_seq).to.equal(Math.max(...received.map((r) => r.seq)));
  });

  it('a durable consumer that reconnects gets nothing again once it has acknowledged', async function () {
    // What activity-core relies on after a restart: the server keeps the durable's position,
    // so a new connection resumes after the last acknowledged event.
    const again: string[] = [];
    const fresh = await connect({ servers: nats!.url, name: 'e2e-activity-core-restarted' });
    try {
      const consumer = await fresh.jetstream().consumers.get(STREAM, DURABLE);
      for await (const m of (await consumer.fetch({ max_messages: 10, expires: 1500 })) as AsyncIterable<JsMsg>) {
        again.push(m.subject);
        m.ack();
      }
    } finally {
      await fresh.close();
    }
    expect(again).to.deep.equal([]);
  });
});
