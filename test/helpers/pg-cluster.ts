// A private PostgreSQL 15 primary plus streaming standbys (one by default), for failover tests: temporary data
// directories, free ports, stopped by pid and deleted. The tests run as root and PostgreSQL
// refuses to, so every server binary runs as `postgres` through runuser; the temp directory
// (also the socket directory) belongs to it. Replication is asynchronous, as in production
// without synchronous_standby_names: a commit the standby has not received is lost on failover.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { silentLogger } from '../../src/logger.ts';
import { migrate } from '../../src/migrate.ts';
import { freePort } from '../../src/start/server-process.ts';

const BIN = '/usr/lib/postgresql/15/bin';
const run = promisify(execFile);

export interface PgNode {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  /** The postmaster's process id; undefined once it has stopped or crashed. */
  readonly pid: number | undefined;
}

export interface PgCluster {
  /** The node started as primary. */
  readonly primary: PgNode;
  /** The first standby. */
  readonly standby: PgNode;
  readonly standbys: readonly PgNode[];
  /** Creates database `name` on the primary and migrates it; resolves once the standbys have replayed it. */
  createDatabase(name: string): Promise<void>;
  /** Waits until every standby has replayed everything the primary has written so far. */
  caughtUp(): Promise<void>;
  /** SIGSTOPs the primary's walsender(s): the primary keeps committing, the standby stops hearing of it. */
  freezeReplication(): Promise<void>;
  /** SIGCONTs them; harmless when they are gone. */
  thawReplication(): Promise<void>;
  /** pg_ctl -m immediate stop on the primary: a crash. Frozen walsenders die with it, unthawed. */
  crashPrimary(): Promise<void>;
  /**
   * Promotes the standby that has received the most WAL (as Patroni picks one), and points the
   * others at it, as a failover manager does; resolves with it once it accepts writes.
   */
  promoteStandby(): Promise<PgNode>;
  /** Stops both servers by pid and deletes their directories; safe to call twice. */
  close(): Promise<void>;
}

export interface PgClusterOptions {
  /** How many streaming standbys (default 1). */
  standbys?: number;
  /** Called with each startup step's duration (initdb, start primary, basebackup, start standby, streaming), for benchmarks. */
  onStep?: (step: string, ms: number) => void;
}

// Linux only, as runuser is. A dead postmaster is reparented to init, which may not reap it:
// a zombie counts as gone.
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function children(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean, context: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms\n${context()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Queried {
  url(database?: string): string;
  tail(): string;
}

/** One query on its own connection; a failure carries the server's log tail. */
async function query<R extends pg.QueryResultRow>(n: Queried, sql: string, params: unknown[] = [], database?: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: n.url(database), connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined); // a server crashing under it; the query rejects as well
  try {
    await c.connect();
    return (await c.query<R>(sql, params)).rows;
  } catch (e) {
    throw new Error(`${sql}: ${(e as Error).message}\n${n.tail()}`, { cause: e });
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function startPgCluster(options: PgClusterOptions = {}): Promise<PgCluster> {
  const root = mkdtempSync(path.join(tmpdir(), 'statehub-pgc-'));
  chownSync(root, Number((await run('id', ['-u', 'postgres'])).stdout), Number((await run('id', ['-g', 'postgres'])).stdout));
  const frozen = new Set<number>();
  let closed = false;

  function node(name: string, port: number) {
    const dataDir = path.join(root, name);
    const log = path.join(dataDir, 'log');
    let pid: number | undefined;
    const tail = () => {
      try {
        return `--- ${name} log (${log}) ---\n${readFileSync(log, 'utf8').slice(-2000)}`;
      } catch {
        return `--- ${name}: no log ---`;
      }
    };
    return {
      name,
      port,
      dataDir,
      url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
      get pid() {
        return pid !== undefined && alive(pid) ? pid : undefined;
      },
      tail,
      /** Runs a server binary as postgres; a failure carries its stderr and this node's log tail. */
      async pg(tool: string, args: string[]): Promise<void> {
        try {
          await run('runuser', ['-u', 'postgres', '--', path.join(BIN, tool), ...args], { cwd: root, timeout: 120_000 });
        } catch (e) {
          // execFile's message holds the command line and its stderr.
          throw new Error(`${(e as Error).message}\n${tail()}`, { cause: e });
        }
      },
      async start(): Promise<void> {
        // wal_retrieve_retry_interval: a standby whose primary went away tries its (new) primary_conninfo again this soon.
        const opts = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=replica -c max_wal_senders=5 -c hot_standby=on -c wal_retrieve_retry_interval=200ms`;
        await this.pg('pg_ctl', ['-D', dataDir, '-w', '-l', log, '-o', opts, 'start']);
        pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      },
      forget() {
        pid = undefined;
      },
      /** SIGQUIT (immediate shutdown) by pid; SIGKILL to it and its children if it lingers. */
      async stop(): Promise<void> {
        const pidFile = path.join(dataDir, 'postmaster.pid');
        const p = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : pid;
        pid = undefined;
        if (!p || !alive(p)) return;
        const kids = children(p);
        const gone = () => !alive(p) && kids.every((k) => !alive(k));
        signal(p, 'SIGQUIT');
        try {
          await until(`${name} stopped`, 8000, gone, tail);
        } catch {
          for (const k of [p, ...kids]) signal(k, 'SIGKILL');
          await until(`${name} killed`, 5000, gone, tail);
        }
      },
    };
  }

  const primary = node('p1', await freePort());
  const standbys: (typeof primary)[] = [];
  for (let i = 0; i < (options.standbys ?? 1); i++) standbys.push(node(`p${i + 2}`, await freePort()));
  const all = [primary, ...standbys];
  const logs = () => all.map((n) => n.tail()).join('\n');
  const step = async (name: string, fn: () => Promise<void>) => {
    const t0 = Date.now();
    await fn();
    options.onStep?.(name, Date.now() - t0);
  };

  async function walsenders(): Promise<number[]> {
    return (await query<{ pid: number }>(primary, 'SELECT pid FROM pg_stat_replication')).map((r) => r.pid);
  }

  async function caughtUp(): Promise<void> {
    const lsn = (await query<{ lsn: string }>(primary, 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
    for (const standby of standbys) {
      await until(`${standby.name} replaying ${lsn}`, 30_000, async () => {
        const [row] = await query<{ ok: boolean }>(standby, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
        return row?.ok === true;
      }, logs);
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    process.off('exit', onExit);
    // A stopped walsender would hold up its postmaster's shutdown for 5 s.
    for (const p of frozen) signal(p, 'SIGCONT');
    frozen.clear();
    try {
      await Promise.all(all.map((n) => n.stop()));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  // Last resort if the run dies before close(): leave nothing frozen or serving.
  function onExit() {
    for (const p of frozen) signal(p, 'SIGCONT');
    for (const n of all) if (n.pid) signal(n.pid, 'SIGQUIT');
  }
  process.on('exit', onExit);

  try {
    await step('initdb', () => primary.pg('initdb', ['-D', primary.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']));
    await step('start primary', () => primary.start());
    for (const standby of standbys) {
      await step('basebackup', async () => {
        await standby.pg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', standby.dataDir, '-R', '-X', 'stream', '-c', 'fast']);
        // The copy includes the primary's log; the standby's should start empty.
        rmSync(path.join(standby.dataDir, 'log'), { force: true });
      });
      await step('start standby', () => standby.start());
    }
    await step('streaming', () =>
      until('standbys streaming', 30_000, async () => {
        const rows = await query(primary, `SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'`);
        return rows.length === standbys.length;
      }, logs),
    );
  } catch (e) {
    await close();
    throw e;
  }

  const publicNode = (n: typeof primary): PgNode => ({
    name: n.name,
    port: n.port,
    dataDir: n.dataDir,
    url: n.url,
    get pid() {
      return n.pid;
    },
  });

  return {
    primary: publicNode(primary),
    standby: publicNode(standbys[0]!),
    standbys: standbys.map(publicNode),
    async createDatabase(name) {
      await query(primary, `CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      await migrate(primary.url(name), silentLogger()).catch((e: Error) => {
        throw new Error(`migrating ${name}: ${e.message}\n${primary.tail()}`, { cause: e });
      });
      await caughtUp();
    },
    caughtUp,
    async freezeReplication() {
      const pids = await walsenders();
      if (pids.length === 0) throw new Error(`no walsender to freeze\n${logs()}`);
      for (const p of pids) {
        frozen.add(p);
        process.kill(p, 'SIGSTOP');
      }
    },
    async thawReplication() {
      for (const p of frozen) signal(p, 'SIGCONT');
      frozen.clear();
    },
    async crashPrimary() {
      const stopped = primary.pg('pg_ctl', ['-D', primary.dataDir, '-m', 'immediate', '-w', 'stop']);
      stopped.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      if (frozen.size > 0) {
        // The postmaster would SIGKILL a stopped walsender only after 5 s; once it is shutting
        // down (the pid file says so), do it now. The outcome is the same: nothing more is sent.
        const pidFile = path.join(primary.dataDir, 'postmaster.pid');
        const stopping = () => !existsSync(pidFile) || /^stopping/m.test(readFileSync(pidFile, 'utf8'));
        await until('primary stopping', 10_000, stopping, primary.tail).catch(() => undefined);
        for (const p of frozen) signal(p, 'SIGKILL');
      }
      await stopped;
      primary.forget();
      frozen.clear();
    },
    async promoteStandby() {
      // The most advanced: a standby that received more than the promoted one could not follow it.
      const received = await Promise.all(
        standbys.map(async (s) => (await query<{ lsn: string }>(s, 'SELECT pg_last_wal_receive_lsn()::text AS lsn'))[0]!.lsn),
      );
      const lsnValue = (lsn: string) => lsn.split('/').reduce((acc, part) => acc * 2n ** 32n + BigInt(`0x${part}`), 0n);
      const chosen = standbys.reduce((best, s, i) => (lsnValue(received[i]!) > lsnValue(received[standbys.indexOf(best)]!) ? s : best));
      await chosen.pg('pg_ctl', ['-D', chosen.dataDir, '-w', 'promote']);
      await until(`${chosen.name} out of recovery`, 30_000, async () => {
        const [row] = await query<{ r: boolean }>(chosen, 'SELECT pg_is_in_recovery() AS r');
        return row?.r === false;
      }, chosen.tail);
      // The others stream from it now (recovery_target_timeline 'latest' follows its new timeline).
      for (const s of standbys.filter((x) => x !== chosen)) {
        await query(s, `ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=${chosen.port} user=postgres'`);
        await query(s, 'SELECT pg_reload_conf()');
      }
      return publicNode(chosen);
    },
    close,
  };
}
