// A throwaway nats-server with JetStream per test file (as nats.js's own tests do): free port,
// temporary store, stopped by pid and its store deleted. stop()/start() keep the port and the
// store, for outage tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/start/server-process.ts';

export { freePort };

export interface NatsServer {
  readonly port: number;
  readonly url: string;
  /** Its JetStream store directory (-sd). */
  readonly store: string;
  /** The running server's process id (benchmarks read its CPU time); undefined while stopped. */
  readonly pid: number | undefined;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); the store is kept. */
  stop(): Promise<void>;
  /** Starts it again on the same port and store. */
  start(): Promise<void>;
  /** Stops it and deletes the store. Safe to call twice. */
  close(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** `args` go to nats-server as well, e.g. ['--user', 'u', '--pass', 'p'] to require credentials. */
export async function startNatsServer(args: string[] = []): Promise<NatsServer> {
  const port = await freePort();
  const store = mkdtempSync(path.join(tmpdir(), 'statehub-nats-'));
  let child: ChildProcess | undefined;
  let closed = false;

  async function start(): Promise<void> {
    const proc = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child = proc;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`nats-server exited (${proc.exitCode}): ${stderr}`);
      // JetStream is ready shortly after the port opens; the client's first request retries.
      if (await canConnect(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nats-server did not listen on ${port} within 15 s: ${stderr}`);
  }

  async function stop(): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    store,
    get pid() {
      return child?.pid;
    },
    stop,
    start,
    async close() {
      if (closed) return;
      closed = true;
      await stop();
      rmSync(store, { recursive: true, force: true });
    },
  };
}
