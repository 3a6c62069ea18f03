// Pid files of the servers `statehub start` runs (PostgreSQL's postmaster.pid, the private
// nats-server's): tells a server still running from an earlier start (e.g. after a SIGKILL
// orphaned it) from a stale file whose process is gone.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** A server of ours from an earlier start still runs; `message` says which and how to stop it. */
export class AlreadyRunningError extends Error {
  override name = 'AlreadyRunningError';
}

export type PidFileState = { state: 'none' } | { state: 'stale'; pid: number } | { state: 'foreign'; pid: number } | { state: 'ours'; pid: number };

/** The pid on the file's first line, or undefined when there is no usable file. */
async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  const pid = Number(text?.split('\n')[0]?.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether a process with this pid exists (possibly another user's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** argv of a live process (Linux /proc), or undefined. */
async function commandLine(pid: number): Promise<string[] | undefined> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return raw?.split('\0').filter(Boolean);
}

/**
 * What the pid file says: no file, a stale one (process gone), a live process that is not
 * `program` with `option dir` (the pid was reused), or ours.
 */
export async function inspectPidFile(file: string, program: string, option: string, dir: string): Promise<PidFileState> {
  const pid = await readPid(file);
  if (pid === undefined) return { state: 'none' };
  if (!alive(pid)) return { state: 'stale', pid };
  const argv = await commandLine(pid);
  // Unreadable (e.g. /proc mounted with hidepid): take it for ours. Calling it foreign would
  // delete a live postmaster's pid file and let a second one run on the same data dir.
  if (argv === undefined) return { state: 'ours', pid };
  const i = argv.indexOf(option);
  const ours = path.basename(argv[0] ?? '') === program && i > 0 && path.resolve(argv[i + 1] ?? '') === path.resolve(dir);
  return { state: ours ? 'ours' : 'foreign', pid };
}

/** Throws AlreadyRunningError when the state is a live server of ours. */
export function refuseIfRunning(found: PidFileState, what: string, dir: string): void {
  if (found.state !== 'ours') return;
  throw new AlreadyRunningError(
    `${what} (pid ${found.pid}) from an earlier statehub start is still running on ${dir}; stop it with \`kill ${found.pid}\` and start again`,
  );
}
