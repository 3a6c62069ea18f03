// The pump's bookkeeping SQL, parameterized: its position, the batch rows that record delivered
// deltas (migrations/0007), parked events, and the busy flag. Outbox rows are never updated;
// reading a delta is src/pump/delta.ts. docs/capture.md explains the design.
import type { Queryable } from '../db.ts';

export interface OutboxRow {
  id: number;
  event_id: string;
  subject: string;
  ordering_key: string;
  attributes: unknown;
  occurred_at: Date;
}

/** A delta recorded part way: of the events visible in `snapshot` and not before, those up to `throughId` are delivered. */
export interface Partial {
  snapshot: string;
  throughId: number;
}

/** Where delivery stands: the newest batch and its snapshot (pg_snapshot as text). */
export interface Position {
  batchId: number;
  snapshot: string;
  partial?: Partial;
}

export async function readPosition(db: Queryable): Promise<Position> {
  const position = await readBatchPosition(db, 'ORDER BY id DESC LIMIT 1', []);
  if (!position) throw new Error('statehub.outbox_batches is empty: the origin batch of migrations/0007 is missing');
  return position;
}

/** Where delivery stood at the batch row `where` picks (a clause over outbox_batches, with `params`). */
export async function readBatchPosition(db: Queryable, where: string, params: unknown[]): Promise<Position | undefined> {
  const { rows } = await db.query<{ id: number; snapshot: string; next_snapshot: string | null; through_id: number | null }>(
    `SELECT id, snapshot::text, next_snapshot::text, through_id FROM statehub.outbox_batches ${where}`,
    params,
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    batchId: r.id,
    snapshot: r.snapshot,
    ...(r.next_snapshot !== null && r.through_id !== null ? { partial: { snapshot: r.next_snapshot, throughId: r.through_id } } : {}),
  };
}

export interface Ack {
  id: number;
  stream: string;
  seq: number;
  duplicate: boolean;
}

/**
 * An event taken out of the flow: failed (with its error), or waiting behind its key's failure
 * (or stuck on a transient error, which it keeps for the record).
 */
export interface Parked {
  id: number;
  key: string;
  state: 'failed' | 'waiting';
  error?: string;
}

/** What one batch row records: deltas delivered back to back, the last one maybe part way (src/pump/progress.ts). */
export interface BatchRecord {
  previous: Position;
  /** The snapshot reached: every event visible in it is delivered. */
  snapshot: string;
  partial?: Partial;
  events: number;
  published: number;
  duplicates: number;
  parked: Parked[];
  firstId: number | null;
  lastId: number | null;
  /** The PubAcks' stream (null when none, or more than one), and their lowest and highest sequence. */
  stream: string | null;
  firstSeq: number | null;
  lastSeq: number | null;
  startedAt: Date;
}

/** The previous batch already has a successor: another pump recorded this delta. */
export class PositionMovedError extends Error {
  override name = 'PositionMovedError';
}

/**
 * Records delivered deltas in one statement: their parked events and one batch row. Returns the
 * new position. previous_id is UNIQUE, so a second pump recording the same delta fails.
 */
export async function recordBatch(db: Queryable, b: BatchRecord): Promise<Position> {
  try {
    // Only while `previous` is still the newest batch: UNIQUE (previous_id) fences two pumps
    // recording at once, this fences one whose previous batch was pruned together with its successor.
    const { rows } = await db.query<{ id: number }>(
      `WITH newest AS (
         SELECT NOT EXISTS (SELECT 1 FROM statehub.outbox_batches WHERE id > $5) AS ok
       ), parked AS (
         INSERT INTO statehub.outbox_parked (outbox_id, ordering_key, state, error)
         SELECT p.* FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS p, newest WHERE newest.ok
         ON CONFLICT (outbox_id) DO NOTHING
       )
       INSERT INTO statehub.outbox_batches (previous_id, snapshot, events, published, duplicates, parked,
                                            first_id, last_id, stream, first_seq, last_seq, started_at, next_snapshot, through_id)
       SELECT $5, $6::pg_snapshot, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::pg_snapshot, $18 FROM newest WHERE newest.ok
       RETURNING id`,
      [
        b.parked.map((p) => p.id),
        b.parked.map((p) => p.key),
        b.parked.map((p) => p.state),
        b.parked.map((p) => (p.error === undefined ? null : p.error.slice(0, 2000))),
        b.previous.batchId,
        b.snapshot,
        b.events,
        b.published,
        b.duplicates,
        b.parked.length,
        b.firstId,
        b.lastId,
        b.stream,
        b.firstSeq,
        b.lastSeq,
        b.startedAt,
        b.partial?.snapshot ?? null,
        b.partial?.throughId ?? null,
      ],
    );
    if (!rows[0]) throw new PositionMovedError(`batch ${b.previous.batchId} is no longer the newest: another pump recorded after it`);
    return { batchId: rows[0].id, snapshot: b.snapshot, ...(b.partial ? { partial: b.partial } : {}) };
  } catch (err) {
    if ((err as { code?: string; constraint?: string }).constraint === 'outbox_batches_previous_id_key') {
      throw new PositionMovedError(`batch ${b.previous.batchId} already has a successor: another pump recorded this delta`, { cause: err });
    }
    throw err;
  }
}

/**
 * Parked events the pump may publish now: waiting, with no failed event before them on their
 * key. In id order, so each key's events come in the order they were captured, and at most
 * PER_KEY of a key per round, so a key with thousands waiting does not crowd out the others.
 */
export async function readReleasable(db: Queryable, limit: number): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>(
    `SELECT o.id, o.event_id, o.subject, o.ordering_key, o.attributes, o.occurred_at
       FROM (SELECT p.outbox_id, row_number() OVER (PARTITION BY p.ordering_key ORDER BY p.outbox_id) AS n
               FROM statehub.outbox_parked p
              WHERE p.state = 'waiting'
                AND NOT EXISTS (SELECT 1 FROM statehub.outbox_parked f
                                 WHERE f.ordering_key = p.ordering_key AND f.state = 'failed' AND f.outbox_id < p.outbox_id)) AS p
       JOIN statehub.outbox o ON o.id = p.outbox_id
      WHERE p.n <= $2
      ORDER BY p.outbox_id
      LIMIT $1`,
    [limit, RELEASE_PER_KEY],
  );
  return rows;
}

const RELEASE_PER_KEY = 100;

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
