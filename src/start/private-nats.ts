// A private nats-server with JetStream for `statehub start` when NATS_URL is unset and a
// nats-server binary is installed: loopback, free port, store, pid file and log under
// <STATEHUB_DATA_DIR>/nats, stopped after the pump. So the quick start shows events end to end.
import { constants } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { connect as connectTcp } from 'node:net';
import type { Logger } from '../logger.ts';
import { inspectPidFile, refuseIfRunning } from './pid-file.ts';
import { freePort, ServerSlot, spawnServer } from './server-process.ts';

export const NATS_INSTALL_HINT = 'apt-get install nats-server';

/** nats-server on PATH, or where Debian puts it (sbin, missing from a normal user's PATH). */
export async function findNatsServer(pathVariable = ''): Promise<string | undefined> {
  const dirs = [...pathVariable.split(path.delimiter).filter(Boolean), '/usr/local/sbin', '/usr/sbin'];
  for (const dir of dirs) {
    const file = path.join(dir, 'nats-server');
    if (await access(file, constants.X_OK).then(() => true, () => false)) return file;
  }
  return undefined;
}

export interface PrivateNats {
  start(): Promise<{ url: string; storeDir: string }>;
  /** SIGTERM and wait for the exit; makes a pending start() reject. */
  stop(): Promise<void>;
}

export function privateNatsServer(dataRoot: string, binary: string, log: Logger): PrivateNats {
  const storeDir = path.resolve(dataRoot, 'nats');
  const pidFile = path.join(storeDir, 'nats-server.pid');
  const logFile = path.join(storeDir, 'nats-server.log');
  const slot = new ServerSlot('SIGTERM', 10_000);

  async function start() {
    await mkdir(storeDir, { recursive: true });
    // A stale pid file is harmless: nats-server overwrites it.
    refuseIfRunning(await inspectPidFile(pidFile, 'nats-server', '-sd', storeDir), 'nats-server', storeDir);
    slot.check('nats-server start');
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    // Logs go to a file: a Go program dies of SIGPIPE writing to a closed stderr.
    const proc = spawnServer(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '-P', pidFile, '-l', logFile]);
    slot.track(proc);
    let exit: string | undefined;
    let running = false;
    void proc.exited.then((why) => {
      exit = why;
      if (running && !slot.stopping) log.error('private nats-server stopped', { reason: why, log: logFile });
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      slot.check('nats-server start');
      if (exit !== undefined) throw new Error(`private nats-server did not start: ${exit}${await lastError(logFile)}`);
      if (await jetStreamAnswers(port)) break;
      if (Date.now() > deadline) throw new Error(`private nats-server did not answer on ${url} within 15 s (log: ${logFile})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    running = true;
    log.info('private nats-server running', { url, storeDir });
    return { url, storeDir };
  }

  return { start, stop: () => slot.stop() };
}

/**
 * Whether the server accepts clients with JetStream on: it greets each connection with an INFO
 * line saying so, sent once start-up (JetStream included) is done. Read over a plain socket, so
 * that only the pump imports a NATS client.
 */
function jetStreamAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    let greeting = '';
    const done = (ok: boolean) => (socket.destroy(), resolve(ok));
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (chunk: Buffer) => {
      greeting += chunk.toString();
      const end = greeting.indexOf('\r\n');
      if (end < 0) return;
      const m = /^INFO\s+(\{.*\})\s*$/.exec(greeting.slice(0, end));
      try {
        done(m !== null && (JSON.parse(m[1]!) as { jetstream?: boolean }).jetstream === true);
      } catch {
        done(false);
      }
    });
  });
}

/** The last fatal or error line of the log, as ": <line>", or nothing. */
async function lastError(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const line = text.split('\n').reverse().find((l) => /\[(FTL|ERR)\]/.test(l));
  return line ? `: ${line.trim()}` : '';
}
