// A private nats-server with JetStream for `statehub start` when NATS_URL is unset and a
// nats-server binary is installed: loopback, free port, store, pid file and log under
// <STATEHUB_DATA_DIR>/nats, stopped after the pump. So the quick start shows events end to end.
import { constants } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { connect } from 'nats';
import type { Logger } from './logger.ts';
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

export interface DevNats {
  start(): Promise<{ url: string; storeDir: string }>;
  /** SIGTERM and wait for the exit; makes a pending start() reject. */
  stop(): Promise<void>;
}

export function devNatsServer(dataRoot: string, binary: string, log: Logger): DevNats {
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
      if (await jetStreamAnswers(url)) break;
      if (Date.now() > deadline) throw new Error(`private nats-server did not answer on ${url} within 15 s (log: ${logFile})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    running = true;
    log.info('private nats-server running', { url, storeDir });
    return { url, storeDir };
  }

  return { start, stop: () => slot.stop() };
}

async function jetStreamAnswers(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, reconnect: false, timeout: 1000 });
    try {
      await (await nc.jetstreamManager({ timeout: 1000 })).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}

/** The last fatal or error line of the log, as ": <line>", or nothing. */
async function lastError(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const line = text.split('\n').reverse().find((l) => /\[(FTL|ERR)\]/.test(l));
  return line ? `: ${line.trim()}` : '';
}
