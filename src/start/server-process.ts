// What the servers `statehub start` runs as child processes (initdb, postgres, nats-server)
// share: spawned in their own process group, so a terminal's Ctrl-C reaches only us and we stop
// them in order after the pump; the tail of their stderr for a one-line failure; a bounded stop.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';

/** A start interrupted by the shutdown: not a failure to report. */
export class StartStoppedError extends Error {
  override name = 'StartStoppedError';
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** Resolves with a one-line reason when the process exits (it may already have). */
  readonly exited: Promise<string>;
  /** Calls fn with each stderr line. */
  onLine(fn: (line: string) => void): void;
}

// Children still running, each with the signal that ends it at once. Their own process group
// keeps a terminal's Ctrl-C away from them, so when we exit without the orderly stop (a second
// Ctrl-C, the shutdown's time limit, a crash) nothing else would end them.
const running = new Map<ChildProcess, NodeJS.Signals>();
process.on('exit', () => {
  for (const [child, signal] of running) child.kill(signal);
});

/**
 * Spawns a server in its own process group. `forceSignal` ends it at once if this process
 * exits while it still runs (SIGQUIT is PostgreSQL's immediate shutdown).
 */
export function spawnServer(command: string, args: string[], options: SpawnOptions = {}, forceSignal: NodeJS.Signals = 'SIGKILL'): ServerProcess {
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  running.set(child, forceSignal);
  child.once('exit', () => running.delete(child));
  const lines: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  let partial = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    for (const line of parts.filter((l) => l.trim())) {
      lines.push(line);
      if (lines.length > 50) lines.shift();
      for (const fn of listeners) fn(line);
    }
  });
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(`${command} could not run: ${err.message}`));
    child.once('exit', (code, signal) => {
      // Its last words may still be in the pipe; a server's own children can hold the pipe open.
      const report = () => {
        if (partial.trim()) lines.push(partial);
        // The server's own words are the cause: its last FATAL/ERROR line, else its last line.
        const said = [...lines].reverse().find((l) => /FATAL|PANIC|ERROR|\[FTL\]|\[ERR\]/.test(l)) ?? lines.at(-1);
        resolve(`${path.basename(command)} exited (${signal ?? `code ${code}`})${said ? `: ${said.trim()}` : ''}`);
      };
      const timer = setTimeout(report, 200);
      child.stderr!.once('close', () => (clearTimeout(timer), report()));
    });
  });
  return { child, exited, onLine: (fn) => listeners.push(fn) };
}

/** Sends `signal`, waits for the exit, and SIGKILLs after graceMs. Safe on an exited process. */
export async function stopServer(proc: ServerProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** The process a service runs at the moment (initdb, then postgres), and its one stop. */
export class ServerSlot {
  stopping = false;
  private current: ServerProcess | undefined;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly signal: NodeJS.Signals,
    private readonly graceMs: number,
  ) {}

  /** Throws StartStoppedError once the shutdown has begun: the start must go no further. */
  check(what: string): void {
    if (this.stopping) throw new StartStoppedError(`${what}: interrupted by the shutdown`);
  }

  /** Makes proc the one stop() stops; started after the stop began, it is stopped at once. */
  track(proc: ServerProcess): void {
    this.current = proc;
    if (this.stopping) {
      proc.child.kill(this.signal);
      this.check(path.basename(String(proc.child.spawnfile)));
    }
  }

  /** Stops the current process; safe to call twice, and before anything runs. */
  stop(): Promise<void> {
    return (this.stopped ??= (async () => {
      this.stopping = true;
      if (this.current) await stopServer(this.current, this.signal, this.graceMs);
    })());
  }
}
