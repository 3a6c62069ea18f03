// `statehub start` as a child process on a throwaway data dir, for the quick-start tests, and
// the clean-up that stops whatever servers a test left behind (found by their pid files).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, inspectPidFile } from '../../src/start/pid-file.ts';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = path.join(root, 'bin', 'statehub.js');

export interface StartedCli {
  proc: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the first match of pattern in the output; fails after ms or on exit. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

export function spawnCli(args: string[], env: Record<string, string | undefined>): StartedCli {
  const proc = spawn(process.execPath, [cli, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  proc.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (seen += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    proc,
    output: () => seen,
    exited,
    async waitFor(pattern, ms = 60_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = pattern.exec(seen);
        if (m) return m;
        if (done) throw new Error(`exited (${proc.exitCode}) before ${pattern}; output:\n${seen}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} within ${ms} ms; output:\n${seen}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** `statehub start` on dataDir with no DATABASE_URL and no NATS_URL. */
export function runStart(dataDir: string, extra: Record<string, string> = {}): StartedCli {
  return spawnCli(['start'], { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', PUMP_METRICS_PORT: '0', STATEHUB_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...extra });
}

/** What the banner says: API base URL, psql connection string, NATS URL (private server). */
export async function banner(started: StartedCli): Promise<{ api: string; psql: string; nats?: string }> {
  await started.waitFor(/Ctrl-C stops everything/, 90_000);
  const text = started.output();
  return {
    api: /API\s+(http:\/\/\S+)/.exec(text)![1]!,
    psql: /database\s+psql '([^']+)'/.exec(text)![1]!,
    nats: /NATS\s+(nats:\/\/\S+)/.exec(text)?.[1],
  };
}

/** A data dir PostgreSQL can reach when it runs as the postgres user (we may be root). */
export async function makeDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'statehub-start-'));
  await chmod(dir, 0o755);
  return dir;
}

export async function waitGone(pid: number, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} still alive after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The live servers of a data dir, by their pid files. */
export async function serversOf(dataDir: string): Promise<{ postgres?: number; nats?: number }> {
  const pg = await inspectPidFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'postgres', '-D', path.join(dataDir, 'pg'));
  const nats = await inspectPidFile(path.join(dataDir, 'nats', 'nats-server.pid'), 'nats-server', '-sd', path.join(dataDir, 'nats'));
  return { postgres: pg.state === 'ours' ? pg.pid : undefined, nats: nats.state === 'ours' ? nats.pid : undefined };
}

/** Kills the start process and any server it left, then deletes the data dir. */
export async function cleanUp(dataDir: string, ...started: Array<StartedCli | undefined>): Promise<void> {
  for (const s of started) if (s && s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  const { postgres, nats } = await serversOf(dataDir);
  if (postgres) process.kill(postgres, 'SIGQUIT'); // immediate shutdown
  if (nats) process.kill(nats, 'SIGKILL');
  for (const pid of [postgres, nats]) if (pid) await waitGone(pid).catch(() => undefined);
  await rm(dataDir, { recursive: true, force: true });
}
