// What a benchmark runs against: a throwaway database on the shared PostgreSQL (created, migrated
// and dropped here), a private nats-server on a free port (never the shared one), and pump child
// processes started with the CLI exactly as operators start them.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { connect, RetentionPolicy, StorageType, type NatsConnection } from 'nats';
import { CONFIG_KEYS } from '../../../src/config.ts';
import { backlog } from '../../../src/pump/backlog.ts';
import { createTestDatabase, ADMIN_URL } from '../../../test/helpers/database.ts';
import { startNatsServer, type NatsServer } from '../../../test/helpers/nats-server.ts';
import type { Cleanup } from './cleanup.ts';
import { sleep } from './stats.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export { ADMIN_URL };

export interface BenchDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
}

/** A migrated throwaway database with a small pool; dropped by the cleanup. */
export async function benchDatabase(cleanup: Cleanup, poolMax = 10): Promise<BenchDatabase> {
  const tdb = await createTestDatabase();
  cleanup.defer(`database ${tdb.name}`, () => tdb.drop());
  const pool = new pg.Pool({ connectionString: tdb.url, max: poolMax, application_name: 'statehub-bench' });
  pool.on('error', () => undefined);
  cleanup.defer('bench pool', () => pool.end());
  return { name: tdb.name, url: tdb.url, pool };
}

/** A private nats-server with JetStream; stopped and its store deleted by the cleanup. */
export async function benchNats(cleanup: Cleanup): Promise<NatsServer> {
  const server = await startNatsServer();
  cleanup.defer(`nats-server :${server.port}`, () => server.close());
  return server;
}

export async function natsConnection(cleanup: Cleanup, url: string, name: string, options: { noAsyncTraces?: boolean } = {}): Promise<NatsConnection> {
  const nc = await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 250, ...options });
  cleanup.defer(`nats connection ${name}`, async () => {
    if (!nc.isClosed()) await nc.close();
  });
  return nc;
}

/** The stream the pump would create (src/pump/stream.ts): file storage, limits retention. */
export async function addStream(nc: NatsConnection, name: string, subjects: string[]): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name, subjects, storage: StorageType.File, retention: RetentionPolicy.Limits });
}

/** Seeds one domain and topic and `count` workstreams (ids returned as a range) in `status`. */
export async function seedWorkstreams(pool: pg.Pool, count: number, status = 'planned', prefix = 'ws'): Promise<{ first: number; last: number }> {
  await pool.query(`INSERT INTO statehub.domains (slug, name) VALUES ('bench', 'Bench') ON CONFLICT (slug) DO NOTHING`);
  await pool.query(
    `INSERT INTO statehub.topics (slug, title, domain_id)
     SELECT 'bench', 'Bench', id FROM statehub.domains WHERE slug = 'bench' ON CONFLICT (slug) DO NOTHING`,
  );
  const { rows } = await pool.query<{ first: number; last: number }>(
    `WITH ins AS (
       INSERT INTO statehub.workstreams (slug, title, topic_id, status)
       SELECT $1 || '-' || g, 'Benchmark workstream number ' || g, (SELECT id FROM statehub.topics WHERE slug = 'bench'), $3::statehub.workstream_status
         FROM generate_series(1, $2::int) g
       RETURNING id)
     SELECT min(id)::int AS first, max(id)::int AS last FROM ins`,
    [`${prefix}-${Date.now().toString(36)}`, count, status],
  );
  await pool.query('ANALYZE statehub.workstreams');
  return rows[0]!;
}

export interface PumpChild {
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Resolves with the first log line (parsed JSON) matching `test`, rejects after `timeoutMs`. */
  waitForLog(test: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<{ at: number; line: Record<string, unknown> }>;
  /** Peak and current resident set of the process (VmHWM, VmRSS) in bytes. */
  memory(): { hwm: number; rss: number } | undefined;
  /** SIGTERM, SIGKILL after 10 s; resolves once exited. */
  stop(): Promise<void>;
  /** SIGKILL now; resolves once exited. */
  kill(): Promise<void>;
}

/** `node bin/statehub.js pump` with only the variables given here (none inherited from the shell's config). */
export async function startPumpChild(
  cleanup: Cleanup,
  vars: { DATABASE_URL: string; NATS_URL: string; STREAM_NAME: string } & Record<string, string>,
  options: { waitReady?: boolean } = {},
): Promise<PumpChild> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of CONFIG_KEYS) delete env[key];
  Object.assign(env, { LOG_LEVEL: 'info', PUMP_METRICS_PORT: '0' }, vars);
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/statehub.js'), 'pump'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<{ at: number; line: Record<string, unknown> }> = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffer = '';
  const onData = (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push({ at: performance.timeOrigin + performance.now(), line: JSON.parse(text) as Record<string, unknown> });
      } catch {
        stderr = (stderr + text + '\n').slice(-4000);
      }
      for (const w of waiters) w();
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const pid = proc.pid!;

  const child: PumpChild = {
    pid,
    proc,
    waitForLog(test, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < lines.length; seen++) {
            if (test(lines[seen]!.line)) {
              done();
              resolve(lines[seen]!);
              return;
            }
          }
          if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`pump ${pid} exited (${proc.exitCode ?? proc.signalCode}): ${stderr}${lines.slice(-5).map((l) => JSON.stringify(l.line)).join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`pump ${pid}: expected log line not seen within ${timeoutMs} ms; last lines: ${lines.slice(-5).map((l) => JSON.stringify(l.line)).join(' | ')} ${stderr}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
          proc.off('exit', check);
        };
        waiters.add(check);
        proc.on('exit', check);
        check();
      });
    },
    memory() {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
        return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
      } catch {
        return undefined;
      }
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGCONT'); // in case a benchmark froze it
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
  cleanup.defer(`pump child ${pid}`, () => child.stop());
  if (options.waitReady !== false) await child.waitForLog((l) => l.message === 'pump ready');
  return child;
}

/** Polls `fn` every `everyMs` until it returns true; throws after `timeoutMs`. */
export async function until(fn: () => Promise<boolean>, what: string, timeoutMs = 120_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Committed outbox rows the pump has not passed yet: the pump's own backlog gauge. */
export async function pendingCount(pool: pg.Pool): Promise<number> {
  return (await backlog(pool)).pending;
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; NaN when gone. */
export function cpuSeconds(pid: number): number {
  try {
    // Fields 14 and 15 (utime, stime) in clock ticks, 100 per second on Linux.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** The whole machine's CPU time so far, from /proc/stat, in clock ticks: all, idle (with iowait), stolen by the hypervisor. */
export function machineTicks(): { total: number; idle: number; steal: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const n = fields.map(Number); // user nice system idle iowait irq softirq steal guest guest_nice
  return { total: n.slice(0, 8).reduce((a, b) => a + b, 0), idle: n[3]! + n[4]!, steal: n[7]! };
}

/** Shares of the machine's CPU between two machineTicks() readings: busy (not idle, not stolen) and stolen. */
export function machineShare(from: ReturnType<typeof machineTicks>, to: ReturnType<typeof machineTicks>): { busy: number; steal: number } {
  const total = to.total - from.total || 1;
  const steal = (to.steal - from.steal) / total;
  return { busy: 1 - (to.idle - from.idle) / total - steal, steal };
}
