// The pump's SQL: every statement it runs against the outbox and the pump state, parameterized,
// one statement per call so a batch is marked in one round trip.
import type { Queryable } from '../db.ts';

export interface OutboxRow {
  id: number;
  event_id: string;
  subject: string;
  ordering_key: string;
  attributes: unknown;
  occurred_at: Date;
}

export interface Ack {
  id: number;
  stream: string;
  seq: number;
}

// The UPDATEs below join the outbox to arrays of ids and filter on nothing else. A filter such
// as `published_at IS NULL` is estimated from the column's statistics, gathered while nearly
// every row was published; the planner then expects ~1 matching row, scans the whole outbox
// and compares it with every array element: seconds per batch exactly when a backlog is large.
// Joined on id alone it looks each row up through the primary key. Rewriting a row another
// leader marked a moment earlier writes the same stream sequence (a duplicate PubAck carries
// the original one).
export const markAcked = `
  UPDATE statehub.outbox o
     SET published_at = now(), stream = u.stream, stream_seq = u.seq,
         attempts = o.attempts + 1, last_error = NULL, failed_at = NULL
    FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(id, stream, seq)
   WHERE o.id = u.id`;

/** Marks acknowledged rows published, with the stream and sequence from their PubAcks. */
export async function markPublished(db: Queryable, acks: Ack[]): Promise<void> {
  if (acks.length === 0) return;
  await db.query(markAcked, [acks.map((a) => a.id), acks.map((a) => a.stream), acks.map((a) => a.seq)]);
}

/**
 * Marks the previous batch's acks and reads the next pending rows in capture order, in one
 * round trip. No id cursor: a row that commits late must still be read. The SELECT sees the
 * statement's snapshot, taken before the UPDATE, so it leaves out the ids just marked.
 */
export async function markPublishedAndReadPending(db: Queryable, acks: Ack[], limit: number): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>(
    `WITH marked AS (${markAcked})
     SELECT id, event_id, subject, ordering_key, attributes, occurred_at
       FROM statehub.outbox
      WHERE published_at IS NULL AND failed_at IS NULL AND id <> ALL ($1::bigint[])
      ORDER BY id
      LIMIT $4`,
    [acks.map((a) => a.id), acks.map((a) => a.stream), acks.map((a) => a.seq), limit],
  );
  return rows;
}

export interface RowError {
  id: number;
  error: string;
}

/** Sets rows aside for good (catalog mismatch, refused by JetStream); `outbox requeue` undoes it. */
export async function markFailed(db: Queryable, failures: RowError[]): Promise<void> {
  if (failures.length === 0) return;
  await db.query(
    // A row published meanwhile (by another leader) is not set aside: the CASE keeps it clean.
    `UPDATE statehub.outbox o
        SET failed_at = CASE WHEN o.published_at IS NULL THEN now() END,
            attempts = o.attempts + 1, last_error = u.error
       FROM unnest($1::bigint[], $2::text[]) AS u(id, error)
      WHERE o.id = u.id`,
    [failures.map((f) => f.id), failures.map((f) => f.error.slice(0, 2000))],
  );
}

/** Counts a transient failure; the row stays pending and is retried with the same msgID. */
export async function recordAttempts(db: Queryable, failures: RowError[]): Promise<void> {
  if (failures.length === 0) return;
  await db.query(
    `UPDATE statehub.outbox o
        SET attempts = o.attempts + 1, last_error = u.error
       FROM unnest($1::bigint[], $2::text[]) AS u(id, error)
      WHERE o.id = u.id`,
    [failures.map((f) => f.id), failures.map((f) => f.error.slice(0, 2000))],
  );
}

/** The busy/idle flag capture reads to decide whether to NOTIFY. Only the leader calls this. */
export async function setDraining(db: Queryable, draining: boolean): Promise<void> {
  await db.query('UPDATE statehub.outbox_pump_state SET draining = $1, updated_at = now() WHERE draining IS DISTINCT FROM $1', [
    draining,
  ]);
}

/**
 * True when no writer holds the wake lock: every transaction that read draining = true has
 * committed or aborted. A transaction-level try-lock in its own statement, so it can never be
 * left held, and never queues (a waiting exclusive lock would stall new writers behind it).
 */
export async function writersSettled(db: Queryable, key: number | string): Promise<boolean> {
  const { rows } = await db.query<{ free: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS free', [key]);
  return rows[0]?.free === true;
}

export interface Backlog {
  /** Rows waiting for the pump (neither published nor failed). */
  pending: number;
  /** Rows set aside; they wait for `statehub outbox requeue`. */
  failed: number;
  /** The oldest pending row (capture order) and its age; null when nothing is pending. */
  oldestId: number | null;
  oldestAgeMs: number | null;
}

/** What /metrics and `statehub outbox status` report; each part reads its own partial index. */
export async function backlog(db: Queryable): Promise<Backlog> {
  const { rows } = await db.query<Backlog>(
    `SELECT (SELECT count(*) FROM statehub.outbox WHERE published_at IS NULL AND failed_at IS NULL)::bigint AS pending,
            (SELECT count(*) FROM statehub.outbox WHERE failed_at IS NOT NULL)::bigint AS failed,
            o.id AS "oldestId",
            (extract(epoch FROM clock_timestamp() - o.occurred_at) * 1000)::float8 AS "oldestAgeMs"
       FROM (SELECT 1) AS one
       LEFT JOIN LATERAL (SELECT id, occurred_at FROM statehub.outbox
                           WHERE published_at IS NULL AND failed_at IS NULL
                           ORDER BY id LIMIT 1) AS o ON true`,
  );
  return rows[0]!;
}
