// Throwaway databases on the shared PostgreSQL: one per test file (or per test that needs a
// pristine one), migrated, dropped afterwards, and kept when a test in it failed so it can
// be inspected (its name is printed). Set TEST_PG_ADMIN_URL to use another server.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, type Db, type Queryable } from '../../src/db.ts';
import { silentLogger } from '../../src/logger.ts';
import { migrate } from '../../src/migrate.ts';

export const ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function databaseUrl(name: string, adminUrl = ADMIN_URL): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>, adminUrl = ADMIN_URL): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(options: { migrated?: boolean; adminUrl?: string } = {}): Promise<TestDatabase> {
  const adminUrl = options.adminUrl ?? ADMIN_URL;
  const name = `statehub_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`), adminUrl);
  const url = databaseUrl(name, adminUrl);
  if (options.migrated !== false) await migrate(url, silentLogger());
  return {
    name,
    url,
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`), adminUrl).then(() => undefined),
  };
}

/**
 * Gives the enclosing describe() a migrated database and a pool on it. Dropped in after(),
 * unless a test failed: then it is kept and its name printed. Mocha runs after() hooks in the
 * order they were registered, so a test that opens its own clients registers their cleanup
 * before calling this.
 */
export function useTestDatabase(): { readonly url: string; readonly db: Db; readonly name: string } {
  let tdb: TestDatabase | undefined;
  let db: Db | undefined;
  let failed = false;
  before(async function () {
    this.timeout(60_000);
    tdb = await createTestDatabase();
    db = createDb({ connectionString: tdb.url, max: 5 }, silentLogger());
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });
  after(async function () {
    await db?.close();
    if (!tdb) return;
    if (failed) console.error(`    kept test database ${tdb.name} for inspection`);
    else await tdb.drop();
  });
  return {
    get url() {
      return tdb!.url;
    },
    get name() {
      return tdb!.name;
    },
    get db() {
      return db!;
    },
  };
}

/**
 * Waits until a session of this database that matches `where` (a condition on pg_stat_activity,
 * written by the test) waits for a lock: the moment a test's lock holder has something queued.
 */
export async function waitForLockWait(db: Queryable, where: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND ${where}`,
    );
    if (rows[0]!.n > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no session (${where}) waited for a lock within ${timeoutMs} ms`);
}
