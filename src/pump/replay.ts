// `statehub replay`: re-publishes chosen, already published outbox rows to JetStream, e.g. after
// a consumer lost data or the stream was purged. The envelope is rebuilt exactly as the pump
// builds it, with the same id. The bookkeeping is left as it is: it records the original
// delivery, and replay only reports.
import type { JetStreamClient } from 'nats';
import type { Queryable } from '../db.ts';
import { CatalogError, toEnvelope } from '../events/catalog.ts';
import { subjectPattern } from '../events/subject-pattern.ts';

export interface ReplaySelection {
  fromId?: number;
  since?: Date;
  /** A subject, or a NATS pattern with * and a trailing >. */
  subject?: string;
}

export interface ReplayOptions {
  stream: string;
  publisher: string;
  /** Rows read per page, and publishes awaiting an ack at once. */
  batchSize: number;
  /** Publish under a fresh Nats-Msg-Id so JetStream's duplicate window does not drop them. */
  newIds: boolean;
  /** Stamp for the fresh Nats-Msg-Ids of this run. */
  runStamp?: string;
}

export interface ReplayResult {
  matched: number;
  published: number;
  /** Acked with duplicate=true: JetStream saw the Nats-Msg-Id inside its window and dropped it. */
  duplicates: number;
  /** Rows that no longer match the catalog; not published. */
  invalid: Array<{ id: number; error: string }>;
  firstId: number | null;
  lastId: number | null;
}

interface Row {
  id: number;
  event_id: string;
  subject: string;
  attributes: unknown;
  occurred_at: Date;
}

/**
 * Published: passed by the pump (visible in the newest batch's snapshot) and not parked, or
 * parked and published from there later. Failed, waiting and skipped events are not.
 */
const PUBLISHED = `pg_visible_in_snapshot(o.txid, (SELECT b.snapshot FROM statehub.outbox_batches b ORDER BY b.id DESC LIMIT 1))
  AND NOT EXISTS (SELECT 1 FROM statehub.outbox_parked p WHERE p.outbox_id = o.id AND p.state <> 'published')`;

function where(sel: ReplaySelection): { sql: string; params: unknown[] } {
  return {
    sql: `($1::bigint IS NULL OR o.id >= $1) AND ($2::timestamptz IS NULL OR o.occurred_at >= $2)
          AND ($3::text IS NULL OR o.subject ~ $3)`,
    params: [sel.fromId ?? null, sel.since ?? null, sel.subject ? subjectPattern(sel.subject) : null],
  };
}

/** Matching rows not published (pending, failed, waiting, skipped): replay leaves those to the pump and the operator. */
export async function countUndelivered(db: Queryable, sel: ReplaySelection): Promise<number> {
  const w = where(sel);
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM statehub.outbox o WHERE NOT (${PUBLISHED}) AND ${w.sql}`,
    w.params,
  );
  return rows[0]!.n;
}

/** Published rows matching the selection, in capture order, one page at a time. */
async function* publishedRows(db: Queryable, sel: ReplaySelection, pageSize: number): AsyncGenerator<Row[]> {
  const w = where(sel);
  let after = 0;
  for (;;) {
    const { rows } = await db.query<Row>(
      `SELECT o.id, o.event_id, o.subject, o.attributes, o.occurred_at FROM statehub.outbox o
        WHERE ${PUBLISHED} AND ${w.sql} AND o.id > $4
        ORDER BY o.id LIMIT $5`,
      [...w.params, after, pageSize],
    );
    if (rows.length === 0) return;
    yield rows;
    after = rows[rows.length - 1]!.id;
  }
}

/** Counts what replay would publish, without connecting to NATS. */
export async function planReplay(db: Queryable, sel: ReplaySelection): Promise<Pick<ReplayResult, 'matched' | 'firstId' | 'lastId'>> {
  const w = where(sel);
  const { rows } = await db.query<{ n: number; first: number | null; last: number | null }>(
    `SELECT count(*)::int AS n, min(o.id) AS first, max(o.id) AS last FROM statehub.outbox o
      WHERE ${PUBLISHED} AND ${w.sql}`,
    w.params,
  );
  return { matched: rows[0]!.n, firstId: rows[0]!.first, lastId: rows[0]!.last };
}

export async function replay(db: Queryable, js: JetStreamClient, sel: ReplaySelection, opts: ReplayOptions): Promise<ReplayResult> {
  const result: ReplayResult = { matched: 0, published: 0, duplicates: 0, invalid: [], firstId: null, lastId: null };
  const stamp = opts.runStamp ?? new Date().toISOString();
  for await (const page of publishedRows(db, sel, opts.batchSize)) {
    result.firstId ??= page[0]!.id;
    result.lastId = page[page.length - 1]!.id;
    result.matched += page.length;
    // Publishes on one connection are stored in the order sent, so awaiting a page of acks
    // together keeps capture order in the stream.
    const acks = page.map((row) => {
      let payload: string;
      try {
        payload = JSON.stringify(toEnvelope(row, opts.publisher));
      } catch (err) {
        if (!(err instanceof CatalogError)) throw err;
        result.invalid.push({ id: row.id, error: err.message });
        return undefined;
      }
      // The envelope id stays the event id whatever the Nats-Msg-Id: consumers dedup on it.
      const msgID = opts.newIds ? `${row.event_id}:replay:${stamp}` : row.event_id;
      return js.publish(row.subject, payload, { msgID, expect: { streamName: opts.stream } });
    });
    for (const ack of await Promise.all(acks)) {
      if (!ack) continue;
      if (ack.duplicate) result.duplicates++;
      else result.published++;
    }
  }
  return result;
}
