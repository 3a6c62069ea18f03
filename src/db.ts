// The one database module: every query of the API, the pump and the CLI goes through here.
// It logs query text, duration and row count at debug level (never the parameters), releases
// clients in `finally`, and keeps an idle client's error from crashing the process.
import pg from 'pg';
import type { Logger } from './logger.ts';
import { PgTarget } from './pg-target.ts';

// bigint (int8) columns hold ids; they fit in a JS number far beyond any realistic row count.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** One checked-out connection: session state (an advisory lock) lasts across its transactions. */
export interface Session extends Queryable {
  /** Runs `fn` inside BEGIN/COMMIT on this connection; rolls back on any error. */
  tx<T>(fn: (client: Queryable) => Promise<T>): Promise<T>;
}

export interface Db extends Queryable {
  readonly pool: pg.Pool;
  /** Runs `fn` inside BEGIN/COMMIT on one checked-out client; rolls back on any error. */
  tx<T>(fn: (client: Queryable) => Promise<T>): Promise<T>;
  /** Runs `fn` on one checked-out client, released afterwards; destroyed instead when `fn` throws. */
  session<T>(fn: (session: Session) => Promise<T>): Promise<T>;
  /** Ends the pool; safe to call twice. */
  close(): Promise<void>;
}

export interface DbOptions {
  connectionString: string;
  max?: number;
  applicationName?: string;
  /** Milliseconds before a statement is cancelled by the server; 0 disables. */
  statementTimeoutMs?: number;
  /**
   * Milliseconds before the client itself gives up on a query: the server cannot cancel what
   * it never received (a partition); 0 or unset disables.
   */
  queryTimeoutMs?: number;
  /**
   * Commit without waiting for the WAL flush. Only for writes that may be lost in a database
   * crash without harm, such as the pump's bookkeeping (a lost mark means a re-publish that
   * JetStream deduplicates); never for the hub's data.
   */
  asyncCommit?: boolean;
  /**
   * No parallel workers and no JIT compilation: for a session that runs many small index lookups
   * a second (the pump). Starting two worker processes or compiling costs milliseconds, more than
   * such a query, and statistics that overestimate a backlog (they are often stale for the outbox)
   * would otherwise make every poll pay it.
   */
  plainPlans?: boolean;
}

/** The session settings sent with the connection (libpq's `options`), or undefined for none. */
function sessionOptions(o: DbOptions): string | undefined {
  const settings = [
    ...(o.asyncCommit ? ['synchronous_commit=off'] : []),
    ...(o.plainPlans ? ['max_parallel_workers_per_gather=0', 'jit=off'] : []),
  ];
  return settings.length > 0 ? settings.map((s) => `-c ${s}`).join(' ') : undefined;
}

function logged(target: Queryable, log: Logger): Queryable {
  return {
    async query<R extends pg.QueryResultRow>(text: string, params?: unknown[]) {
      const started = performance.now();
      try {
        const result = await target.query<R>(text, params);
        if (log.isDebugEnabled()) {
          log.debug('query', { sql: squash(text), ms: round(performance.now() - started), rows: result.rowCount });
        }
        return result;
      } catch (err) {
        log.debug('query failed', { sql: squash(text), ms: round(performance.now() - started), code: (err as { code?: string }).code });
        throw err;
      }
    },
  };
}

export function createDb(options: DbOptions, log: Logger): Db {
  const pool = new pg.Pool({
    // Several hosts: each new connection goes to the one that takes read-write sessions now.
    ...(PgTarget.of(options.connectionString).clientConfig() as { connectionString: string }),
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'statehub',
    statement_timeout: options.statementTimeoutMs || undefined,
    query_timeout: options.queryTimeoutMs || undefined,
    connectionTimeoutMillis: 10_000,
    // Notice a peer that vanished without closing the connection (network loss, host crash).
    keepAlive: true,
    options: sessionOptions(options),
  });
  // An idle client losing its connection (server restart, pg_terminate_backend) emits here;
  // without a listener node-postgres would crash the process.
  pool.on('error', (err) => log.warn('idle database connection lost', { error: err.message }));

  const direct = logged(pool, log);
  let closing: Promise<void> | undefined;

  /**
   * Runs fn on a checked-out client. The client is destroyed rather than reused when its
   * ROLLBACK failed, or (`destroyOnError`) when fn failed: a session that broke off may still
   * hold session state, such as an advisory lock, that nothing will release.
   */
  async function checkedOut<T>(destroyOnError: boolean, fn: (client: pg.PoolClient, q: Queryable, broke: (e: Error) => void) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    // The pool listens for errors only while a client is idle; a checked-out client whose
    // connection drops (server restart, pg_terminate_backend) would crash the process.
    const lost = (err: Error) => {
      broken = err;
      log.warn('database connection lost', { error: err.message });
    };
    client.on('error', lost);
    try {
      return await fn(client, logged(client, log), (e) => (broken = e));
    } catch (err) {
      if (destroyOnError) broken ??= err as Error;
      throw err;
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }

  async function inTransaction<T>(client: pg.PoolClient, q: Queryable, broke: (e: Error) => void, body: (q: Queryable) => Promise<T>): Promise<T> {
    try {
      await client.query('BEGIN');
      const result = await body(q);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A client whose ROLLBACK fails is broken; releasing it with the error destroys it.
      await client.query('ROLLBACK').catch(broke);
      throw err;
    }
  }

  return {
    pool,
    query: direct.query,
    session: (fn) => checkedOut(true, (client, q, broke) => fn({ query: q.query, tx: (body) => inTransaction(client, q, broke, body) })),
    tx: (fn) => checkedOut(false, (client, q, broke) => inTransaction(client, q, broke, fn)),
    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}

function squash(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim().slice(0, 500);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
