// The pump's SQL: every statement it runs against the outbox and its bookkeeping, parameterized.
// Outbox rows are never updated. Delivery is recorded per delta (migrations/0007): a delta is the
// rows whose transaction is visible in a new snapshot and was not in the previous batch's, and
// completing one inserts one row into statehub.outbox_batches. docs/capture.md explains it.
import type { Queryable } from '../db.ts';

export interface OutboxRow {
  id: number;
  event_id: string;
  subject: string;
  ordering_key: string;
  attributes: unknown;
  occurred_at: Date;
}

/** A row of the delta, and whether its key is blocked by a parked event. */
export interface DeltaRow extends OutboxRow {
  blocked: boolean;
}

/** Where delivery stands: the newest batch and its snapshot (pg_snapshot as text). */
export interface Position {
  batchId: number;
  snapshot: string;
}

export async function readPosition(db: Queryable): Promise<Position> {
  const { rows } = await db.query<Position>(
    'SELECT id AS "batchId", snapshot::text AS snapshot FROM statehub.outbox_batches ORDER BY id DESC LIMIT 1',
  );
  if (!rows[0]) throw new Error('statehub.outbox_batches is empty: the origin batch of migrations/0007 is missing');
  return rows[0];
}

/** A pg_snapshot's text form, 'xmin:xmax:xip,...', split; xids stay text (xid8 may exceed 2^53). */
export function splitSnapshot(snapshot: string): { xmin: string; xmax: string; xip: string[] } {
  const m = /^(\d+):(\d+):([\d,]*)$/.exec(snapshot);
  if (!m) throw new Error(`not a pg_snapshot: ${snapshot}`);
  return { xmin: m[1]!, xmax: m[2]!, xip: m[3] ? m[3].split(',') : [] };
}

// Not visible in the previous snapshot: the transaction started at or after its xmax, or was
// still running when it was taken (its xip list, the short IN list PgQ uses). A range of the
// txid index plus a few lookups, however far back a long transaction holds the xmin. Both are
// sent as values, not computed in SQL: the planner then estimates them from the column's
// statistics instead of guessing (a guess that picked a full scan in test/pump-outbox-sql).
export const newSince = (xmax: string, xip: string) => `(o.txid >= ${xmax}::xid8 OR o.txid = ANY (${xip}::xid8[]))`;

/** The next delta's extent: from the previous snapshot to one taken by this very statement. */
export interface Delta {
  /** The snapshot this statement ran with, as text: the delta's upper bound. */
  snapshot: string;
  events: number;
  firstId: number | null;
  lastId: number | null;
}

// A page's filter: in the delta, said with functions the txid index cannot serve, so the only
// index path is the primary key's id range in id order. Offered the txid index, the planner
// takes it on stale statistics and sorts the whole delta for every page.
const IN_DELTA = (previous: string, current: string) =>
  `NOT pg_visible_in_snapshot(o.txid, ${previous}::pg_snapshot) AND pg_visible_in_snapshot(o.txid, ${current}::pg_snapshot)`;

const PAGE_COLUMNS = `o.id, o.event_id, o.subject, o.ordering_key, o.attributes, o.occurred_at,
  EXISTS (SELECT 1 FROM statehub.outbox_parked p
           WHERE p.ordering_key = o.ordering_key AND p.state IN ('failed', 'waiting')) AS blocked`;

/**
 * Opens the next delta and reads its first page, in one round trip. pg_current_snapshot() is
 * the statement's own snapshot, so the rows it sees are exactly those visible in it: nothing can
 * commit "in between" and be missed. The extent comes from the txid index, the page from the
 * primary key, between the delta's first and last id. blocked: an earlier event of the key is parked.
 */
export const openDeltaSql = `
  WITH extent AS MATERIALIZED (
    SELECT pg_current_snapshot() AS snap, count(*)::int AS events, min(o.id) AS first_id, max(o.id) AS last_id
      FROM statehub.outbox o
     WHERE ${newSince('$1', '$2')} AND pg_visible_in_snapshot(o.txid, pg_current_snapshot())
  )
  SELECT e.snap::text AS delta_snapshot, e.events AS delta_events, e.first_id AS delta_first_id, e.last_id AS delta_last_id, page.*
    FROM extent e
    LEFT JOIN LATERAL (
      SELECT ${PAGE_COLUMNS}
        FROM statehub.outbox o
       WHERE o.id >= e.first_id AND o.id <= e.last_id
         AND ${IN_DELTA('$4', 'e.snap')}
       ORDER BY o.id
       LIMIT $3
    ) AS page ON true`;

export async function openDelta(db: Queryable, previous: string, limit: number): Promise<{ delta: Delta; rows: DeltaRow[] }> {
  type Row = DeltaRow & { delta_snapshot: string; delta_events: number; delta_first_id: number | null; delta_last_id: number | null };
  const { xmax, xip } = splitSnapshot(previous);
  const { rows } = await db.query<Row>(openDeltaSql, [xmax, xip, limit, previous]);
  const first = rows[0]!;
  const delta = { snapshot: first.delta_snapshot, events: first.delta_events, firstId: first.delta_first_id, lastId: first.delta_last_id };
  if (delta.events === 0) return { delta, rows: [] };
  return {
    delta,
    rows: rows.map(({ id, event_id, subject, ordering_key, attributes, occurred_at, blocked }) => ({ id, event_id, subject, ordering_key, attributes, occurred_at, blocked })),
  };
}

/** The next page of a delta, after `afterId`, in id order. */
export const readPageSql = `
  SELECT ${PAGE_COLUMNS}
    FROM statehub.outbox o
   WHERE o.id > $3 AND o.id <= $4
     AND ${IN_DELTA('$1', '$2')}
   ORDER BY o.id
   LIMIT $5`;

export async function readPage(db: Queryable, previous: string, delta: Delta, afterId: number, limit: number): Promise<DeltaRow[]> {
  const { rows } = await db.query<DeltaRow>(readPageSql, [previous, delta.snapshot, afterId, delta.lastId, limit]);
  return rows;
}

export interface Ack {
  id: number;
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** An event taken out of the flow: failed (with its error) or waiting behind its key's failure. */
export interface Parked {
  id: number;
  key: string;
  state: 'failed' | 'waiting';
  error?: string;
}

export interface BatchRecord {
  previous: Position;
  snapshot: string;
  events: number;
  acks: Ack[];
  parked: Parked[];
  firstId: number | null;
  lastId: number | null;
  startedAt: Date;
}

/** The previous batch already has a successor: another pump recorded this delta. */
export class PositionMovedError extends Error {
  override name = 'PositionMovedError';
}

/**
 * Records a completed delta in one statement: its parked events and its batch row. Returns the
 * new position. previous_id is UNIQUE, so a second pump recording the same delta fails.
 */
export async function recordBatch(db: Queryable, b: BatchRecord): Promise<Position> {
  const seqs = b.acks.map((a) => a.seq);
  const streams = new Set(b.acks.map((a) => a.stream));
  const stream = streams.size === 1 ? [...streams][0]! : null;
  try {
    const { rows } = await db.query<{ id: number }>(
      `WITH parked AS (
         INSERT INTO statehub.outbox_parked (outbox_id, ordering_key, state, error)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
         ON CONFLICT (outbox_id) DO NOTHING
       )
       INSERT INTO statehub.outbox_batches (previous_id, snapshot, events, published, duplicates, parked,
                                            first_id, last_id, stream, first_seq, last_seq, started_at)
       VALUES ($5, $6::pg_snapshot, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
       RETURNING id`,
      [
        b.parked.map((p) => p.id),
        b.parked.map((p) => p.key),
        b.parked.map((p) => p.state),
        b.parked.map((p) => (p.error === undefined ? null : p.error.slice(0, 2000))),
        b.previous.batchId,
        b.snapshot,
        b.events,
        b.acks.length,
        b.acks.filter((a) => a.duplicate).length,
        b.parked.length,
        b.firstId,
        b.lastId,
        stream,
        stream && seqs.length ? Math.min(...seqs) : null,
        stream && seqs.length ? Math.max(...seqs) : null,
        b.startedAt,
      ],
    );
    return { batchId: rows[0]!.id, snapshot: b.snapshot };
  } catch (err) {
    if ((err as { code?: string; constraint?: string }).constraint === 'outbox_batches_previous_id_key') {
      throw new PositionMovedError(`batch ${b.previous.batchId} already has a successor: another pump recorded this delta`, { cause: err });
    }
    throw err;
  }
}

/**
 * Parked events the pump may publish now: waiting, with no failed event before them on their
 * key. In id order, so each key's events come in the order they were captured.
 */
export async function readReleasable(db: Queryable, limit: number): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>(
    `SELECT o.id, o.event_id, o.subject, o.ordering_key, o.attributes, o.occurred_at
       FROM statehub.outbox_parked p
       JOIN statehub.outbox o ON o.id = p.outbox_id
      WHERE p.state = 'waiting'
        AND NOT EXISTS (SELECT 1 FROM statehub.outbox_parked f
                         WHERE f.ordering_key = p.ordering_key AND f.state = 'failed' AND f.outbox_id < p.outbox_id)
      ORDER BY p.outbox_id
      LIMIT $1`,
    [limit],
  );
  return rows;
}

/** Records what happened to released events: published (stream, sequence) or failed again. */
export async function settleReleased(db: Queryable, acks: Ack[], failed: Array<{ id: number; error: string }>): Promise<void> {
  if (acks.length > 0) {
    await db.query(
      `UPDATE statehub.outbox_parked p
          SET state = 'published', stream = u.stream, stream_seq = u.seq, updated_at = now()
         FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(id, stream, seq)
        WHERE p.outbox_id = u.id AND p.state = 'waiting'`,
      [acks.map((a) => a.id), acks.map((a) => a.stream), acks.map((a) => a.seq)],
    );
  }
  if (failed.length > 0) {
    await db.query(
      `UPDATE statehub.outbox_parked p
          SET state = 'failed', error = u.error, updated_at = now()
         FROM unnest($1::bigint[], $2::text[]) AS u(id, error)
        WHERE p.outbox_id = u.id AND p.state = 'waiting'`,
      [failed.map((f) => f.id), failed.map((f) => f.error.slice(0, 2000))],
    );
  }
}

/** The busy/idle flag capture reads to decide whether to NOTIFY. Only the leader calls this. */
export async function setBusy(db: Queryable, busy: boolean): Promise<void> {
  await db.query('UPDATE statehub.outbox_pump_state SET busy = $1, updated_at = now() WHERE busy IS DISTINCT FROM $1', [busy]);
}

/**
 * True when no writer holds the wake lock: every transaction that read busy = true has
 * committed or aborted. A transaction-level try-lock in its own statement, so it can never be
 * left held, and never queues (a waiting exclusive lock would stall new writers behind it).
 */
export async function writersSettled(db: Queryable, key: number | string): Promise<boolean> {
  const { rows } = await db.query<{ free: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS free', [key]);
  return rows[0]?.free === true;
}
