// Schema changes in two kinds, as Flyway and graphile-migrate separate them:
//   migrations/NNNN_*.sql  versioned: tables, columns, indexes; applied once, never edited after landing.
//   sql/NNN_*.sql          repeatable: functions, triggers, grants; idempotent, re-applied (all of
//                          them, in file-name order) whenever any file's content changes or the
//                          set of applied migrations does (a new table needs its grants).
// Re-applying sql/ takes table locks (CREATE OR REPLACE TRIGGER: SHARE ROW EXCLUSIVE, which
// readers pass). Each try waits at most lock_timeout for them, so it never queues a busy
// table's writers for longer, and a try that times out is rolled back and made again.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import type { Logger } from './logger.ts';
import { PgTarget } from './pg-target.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MIGRATIONS_DIR = path.join(root, 'migrations');
export const SQL_DIR = path.join(root, 'sql');
const META_SCHEMA = 'statehub_meta';

export interface MigrateResult {
  /** Versioned migrations run, by name. */
  migrations: string[];
  /** Whether the repeatable definitions in sql/ were (re)applied. */
  definitionsApplied: boolean;
}

export interface LockPolicy {
  /** lock_timeout of each try at re-applying sql/. */
  timeoutMs: number;
  /** Tries before giving up. */
  tries: number;
}

const DEFAULT_LOCKS: LockPolicy = { timeoutMs: 5000, tries: 5 };
const LOCK_NOT_AVAILABLE = '55P03';

export async function migrate(
  databaseUrl: string,
  log: Logger,
  direction: 'up' | 'down' = 'up',
  count?: number,
  locks: LockPolicy = DEFAULT_LOCKS,
): Promise<MigrateResult> {
  const { connectionString, Client = pg.Client } = PgTarget.of(databaseUrl).clientConfig();
  const client = new Client({ connectionString, application_name: 'statehub-migrate' });
  await client.connect();
  // A migration may warn about what it could not do (e.g. 0003: rows that break a new rule).
  client.on('notice', (n) => {
    if (n.severity === 'WARNING') log.warn(n.message ?? 'warning from the database', { hint: n.hint });
  });
  try {
    await client.query('SET client_min_messages = warning');
    const ran = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction,
      count: count ?? (direction === 'up' ? Infinity : 1),
      migrationsTable: 'pgmigrations',
      migrationsSchema: META_SCHEMA,
      createMigrationsSchema: true,
      checkOrder: true,
      singleTransaction: true,
      advisoryLockMode: 'wait',
      logger: { debug: (m) => log.debug(m), info: (m) => log.debug(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
    });
    const migrations = ran.map((m) => m.name);
    for (const name of migrations) log.info(`migration ${direction}`, { migration: name });

    if (direction === 'down') {
      // Objects in sql/ may depend on what was just dropped; forget their hashes so the next
      // `up` re-creates them against the schema as it then is.
      await client.query(`DELETE FROM ${META_SCHEMA}.sql_definitions`).catch(() => undefined);
      return { migrations, definitionsApplied: false };
    }
    const definitionsApplied = await applyDefinitionsPatiently(client, log, locks);
    await warnOfSuperuserOwners(client, log);
    return { migrations, definitionsApplied };
  } finally {
    await client.end();
  }
}

/**
 * The SECURITY DEFINER functions (capture, cancel_stale_tasks, prune_outbox...) run with their
 * owner's rights: owned by a superuser, any bug in them, or in what they call, acts as one.
 * That happens when migrate runs as a superuser (docs/roles.md says to use the owner role).
 */
async function warnOfSuperuserOwners(client: pg.Client, log: Logger): Promise<void> {
  const { rows } = await client.query<{ owner: string; functions: string[] }>(
    `SELECT r.rolname AS owner, array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text) AS functions
       FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_roles r ON r.oid = p.proowner
      WHERE p.pronamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = 'statehub')
        AND p.prosecdef AND r.rolsuper
      GROUP BY r.rolname`,
  );
  for (const r of rows) {
    log.warn(
      `SECURITY DEFINER functions are owned by the superuser ${r.owner}, so they run with superuser rights; ` +
        'in production migrate as the owner role (docs/roles.md), which then owns them',
      { owner: r.owner, functions: r.functions.length, examples: r.functions.slice(0, 3) },
    );
  }
}

async function readDefinitions(): Promise<Array<{ file: string; sql: string; sha256: string }>> {
  const files = (await readdir(SQL_DIR)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(path.join(SQL_DIR, file), 'utf8');
      return { file, sql, sha256: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * The row of sql_definitions that records over which migrations the definitions were applied:
 * a migration may create what they refer to (a table sql/900 grants on). Kept with the file
 * hashes, so a migrate killed between the migrations and the definitions still re-applies them.
 */
const MIGRATIONS_ROW = '(applied migrations)';

/** Re-applies sql/ when needed, trying again while a table it must change stays locked by others. */
async function applyDefinitionsPatiently(client: pg.Client, log: Logger, locks: LockPolicy): Promise<boolean> {
  const files = await readDefinitions();
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyDefinitions(client, log, files, locks.timeoutMs);
    } catch (err) {
      const code = ((err as Error).cause as { code?: string } | undefined)?.code ?? (err as { code?: string }).code;
      if (code !== LOCK_NOT_AVAILABLE) throw err;
      if (attempt >= locks.tries) {
        throw new Error(
          `${(err as Error).message} (gave up after ${locks.tries} tries of ${locks.timeoutMs} ms: other sessions hold locks on tables sql/ changes; ` +
            'look for long transactions in pg_stat_activity and run migrate again)',
          { cause: err },
        );
      }
      log.warn('sql definitions: a table is locked by another session; trying again', { attempt, tries: locks.tries, error: (err as Error).message });
      await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 5000)));
    }
  }
}

async function applyDefinitions(client: pg.Client, log: Logger, files: Awaited<ReturnType<typeof readDefinitions>>, lockTimeoutMs: number): Promise<boolean> {
  await client.query('BEGIN');
  try {
    // Same lock key for every migrator of this database: concurrent starts apply once.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('statehub.sql_definitions'))`);
    // After the advisory lock, which may rightly wait for another migrator's whole try.
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`]);
    const { rows: ran } = await client.query<{ name: string }>(`SELECT name FROM ${META_SCHEMA}.pgmigrations ORDER BY name`);
    const wanted = new Map(files.map((f) => [f.file, f.sha256]));
    wanted.set(MIGRATIONS_ROW, createHash('sha256').update(ran.map((m) => m.name).join('\n')).digest('hex'));
    await client.query(`CREATE TABLE IF NOT EXISTS ${META_SCHEMA}.sql_definitions (
      file text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ file: string; sha256: string }>(`SELECT file, sha256 FROM ${META_SCHEMA}.sql_definitions`);
    const applied = new Map(rows.map((r) => [r.file, r.sha256]));
    const current = wanted.size === applied.size && [...wanted].every(([file, sha256]) => applied.get(file) === sha256);
    if (current) {
      await client.query('COMMIT');
      return false;
    }
    for (const f of files) {
      try {
        await client.query(f.sql);
      } catch (err) {
        throw new Error(`sql/${f.file}: ${(err as Error).message}`, { cause: err });
      }
    }
    await client.query(`DELETE FROM ${META_SCHEMA}.sql_definitions`);
    await client.query(
      `INSERT INTO ${META_SCHEMA}.sql_definitions (file, sha256) SELECT * FROM unnest($1::text[], $2::text[])`,
      [[...wanted.keys()], [...wanted.values()]],
    );
    await client.query('COMMIT');
    log.info('sql definitions applied', { files: files.map((f) => f.file) });
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
