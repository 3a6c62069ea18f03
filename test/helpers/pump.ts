// What the pump tests share: outbox rows written in SQL, reading the stream back, waiting, and
// running `statehub pump` as a child process (where SIGKILL and SIGTERM matter).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from 'nats';
import { loadConfig } from '../../src/config.ts';
import type { Queryable } from '../../src/db.ts';
import type { Envelope } from '../../src/events/catalog.ts';
import { createLogger, silentLogger, type Logger } from '../../src/logger.ts';
import { startPump, type PumpHandle } from '../../src/pump/index.ts';
import { ORIGIN_HEADERS } from '../../src/pump/publish.ts';
import { useTestDatabase } from './database.ts';
import { startNatsServer, type NatsServer } from './nats-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const STREAM = 'ACTIVITY_EVENTS';

/** Valid attributes for workstream.completed, numbered. */
export function workstreamAttributes(n: number) {
  return { workstream_id: n, slug: `ws-${n}`, title: `Workstream ${n}`, topic_id: 1, repo_id: null, repo_goal_id: null };
}

/** Inserts `count` workstream.completed rows in one statement, keys spread over `keys` workstreams. */
export async function insertWorkstreamRows(db: Queryable, count: number, keys = 500, offset = 0): Promise<void> {
  await db.query(
    `INSERT INTO statehub.outbox (subject, ordering_key, attributes)
     SELECT 'org.statehub.workstream.completed', 'workstream:' || (g % $2),
            jsonb_build_object('workstream_id', g, 'slug', 'ws-' || g, 'title', 'Workstream ' || g,
                               'topic_id', 1, 'repo_id', null, 'repo_goal_id', null)
       FROM generate_series($3::int + 1, $3::int + $1::int) AS g`,
    [count, keys, offset],
  );
}

export async function countRows(db: Queryable, where: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM statehub.outbox o WHERE ${where}`);
  return rows[0]!.n;
}

/** SQL over outbox alias o: the pump has passed the row (its txid is visible in the newest batch). */
export const PASSED = `pg_visible_in_snapshot(o.txid, (SELECT b.snapshot FROM statehub.outbox_batches b ORDER BY b.id DESC LIMIT 1))`;
/** SQL over outbox alias o: passed and published (not parked, or published from the parked table). */
export const PUBLISHED = `${PASSED} AND NOT EXISTS (SELECT 1 FROM statehub.outbox_parked p WHERE p.outbox_id = o.id AND p.state <> 'published')`;

/** Committed rows the pump has not passed yet. */
export const pendingCount = (db: Queryable) => countRows(db, `NOT (${PASSED})`);

/** True when nothing is left for the pump: every row passed, and no parked event waits. */
export async function allDelivered(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM statehub.outbox o WHERE NOT (${PASSED})) + (SELECT count(*) FROM statehub.outbox_parked WHERE state = 'waiting') AS n`,
  );
  return Number(rows[0]!.n) === 0;
}

/** The event ids the bookkeeping says are published, in id order. */
export async function publishedEventIds(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ event_id: string }>(`SELECT o.event_id FROM statehub.outbox o WHERE ${PUBLISHED} ORDER BY o.id`);
  return rows.map((r) => r.event_id);
}

export interface ParkedRow {
  outbox_id: number;
  ordering_key: string;
  state: string;
  error: string | null;
}

export async function parkedRows(db: Queryable): Promise<ParkedRow[]> {
  const { rows } = await db.query<ParkedRow>('SELECT outbox_id, ordering_key, state, error FROM statehub.outbox_parked ORDER BY outbox_id');
  return rows;
}

export interface StoredMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  /** The Statehub-Db-System and Statehub-Db-Timeline headers: the database it was published from. */
  origin: { system: string | undefined; timeline: string | undefined };
  envelope: Envelope;
}

/** Every message in the stream, in stream order. */
export async function readStream(nc: NatsConnection, stream = STREAM): Promise<StoredMessage[]> {
  await reconnected(nc);
  const jsm = await nc.jetstreamManager();
  const { state } = await jsm.streams.info(stream);
  if (state.messages === 0) return [];
  const consumer = await nc.jetstream().consumers.get(stream); // ordered, ephemeral
  const messages = await consumer.consume();
  // Never hang a test run on a consumer that stops delivering.
  let timedOut = false;
  const timer = setTimeout(() => ((timedOut = true), void messages.close()), 30_000);
  const out: StoredMessage[] = [];
  try {
    for await (const m of messages) {
      const origin = { system: m.headers?.get(ORIGIN_HEADERS.system) || undefined, timeline: m.headers?.get(ORIGIN_HEADERS.timeline) || undefined };
      out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), origin, envelope: m.json<Envelope>() });
      if (m.seq >= state.last_seq) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close();
  }
  if (timedOut) throw new Error(`read ${out.length} of ${state.messages} messages of ${stream} in 30 s`);
  return out;
}

/** Waits until `nc` answers again (flush rejects while it is reconnecting after a server restart). */
export async function reconnected(nc: NatsConnection, timeoutMs = 20_000): Promise<void> {
  await waitFor('the NATS connection to be back', () => nc.flush().then(() => true, () => false), timeoutMs, 100);
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(everyMs);
  }
}

export interface PumpProcess {
  readonly child: ChildProcess;
  /** stderr+stdout so far, for failure messages. */
  output(): string;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** Runs `node bin/statehub.js pump` with `env` on top of a minimal environment. */
export function spawnPump(env: Record<string, string>): PumpProcess {
  const child = spawn(process.execPath, [path.join(root, 'bin/statehub.js'), 'pump'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', PUMP_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => output,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** The metrics port a child pump logged (it runs with PUMP_METRICS_PORT=0). */
export async function metricsPortOf(p: PumpProcess, timeoutMs = 20_000): Promise<number> {
  let port: number | undefined;
  await waitFor(
    'the pump to log its metrics port',
    () => {
      const line = p.output().split('\n').find((l) => l.includes('"pump metrics listening"'));
      port ??= line ? (JSON.parse(line) as { port: number }).port : undefined;
      return port !== undefined;
    },
    timeoutMs,
  );
  return port!;
}

export interface ProbeReply {
  status: number;
  body: string;
  /** The WWW-Authenticate header of a 401. */
  challenge?: string;
}

/** GET a path of a pump's metrics server: status and body; status 0 when it does not answer. */
export async function probe(port: number, path: string, headers: Record<string, string> = {}): Promise<ProbeReply> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.text(), challenge: res.headers.get('www-authenticate') ?? undefined };
  } catch {
    return { status: 0, body: '' };
  }
}

/** A sample's value from Prometheus text, e.g. metric(body, 'statehub_pump_published_total'). */
export function metric(body: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : undefined;
}

export interface PumpFixture {
  readonly db: Queryable;
  readonly url: string;
  readonly nats: NatsServer;
  readonly nc: NatsConnection;
  readonly pump: PumpHandle;
}

/**
 * Gives the enclosing describe() a migrated database, a private nats-server, a connection to it
 * and an in-process pump; `prepare` runs before the pump starts. The safety poll is set to a
 * minute, so the tests see what NOTIFY and reconnect wake-ups do alone. PUMP_TEST_LOG=debug shows
 * the pump's log. Everything is closed in after(), the pump before its database is dropped.
 * `options.natsArgs` go to nats-server, `options.env` to the pump's configuration (and its NATS_USER
 * and NATS_PASSWORD to the test's own connection as well), `options.log` replaces the pump's logger.
 */
export function usePump(
  prepare?: (nc: NatsConnection) => Promise<void>,
  options: { natsArgs?: string[]; env?: Record<string, string>; log?: Logger } = {},
): PumpFixture {
  let nats: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let pump: PumpHandle | undefined;
  after(async function () {
    await pump?.stop();
    await nc?.close();
    await nats?.close();
  });
  const t = useTestDatabase();
  before(async function () {
    nats = await startNatsServer(options.natsArgs);
    const env = options.env ?? {};
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200, user: env.NATS_USER, pass: env.NATS_PASSWORD });
    await prepare?.(nc);
    const log = options.log ?? (process.env.PUMP_TEST_LOG ? createLogger(process.env.PUMP_TEST_LOG) : silentLogger());
    pump = await startPump(loadConfig({ DATABASE_URL: t.url, NATS_URL: nats.url, PUMP_METRICS_PORT: '0', PUMP_POLL_INTERVAL: '1m', ...env }), log);
  });
  return {
    get db() {
      return t.db;
    },
    get url() {
      return t.url;
    },
    get nats() {
      return nats!;
    },
    get nc() {
      return nc!;
    },
    get pump() {
      return pump!;
    },
  };
}
