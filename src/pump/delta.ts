// Reading a delta: the outbox rows whose transaction is visible in a new snapshot and was not in
// the previous one (docs/capture.md). Not visible in the previous snapshot means one of two
// things, and each is read the way PgQ reads it (pgq.batch_event_sql):
//   range part: the transaction started at or after the previous xmax. Its rows carry the newest
//               ids, so they are paged through the primary key from the part's lowest id;
//   xip part:   the transaction was still running then (the previous xip, a short list). Its rows
//               may have old ids, so they are looked up through the txid index.
// The two are merged in id order, so each ordering key's events come in capture order, and no
// page walks over the rows delivered since a long transaction wrote its first event.
import type { Queryable } from '../db.ts';
import type { OutboxRow, Position } from './outbox.ts';

/** A row of the delta, and whether its key is blocked by a parked event. */
export interface DeltaRow extends OutboxRow {
  blocked: boolean;
}

/** A pg_snapshot's text form, 'xmin:xmax:xip,...', split; xids stay text (xid8 may exceed 2^53). */
export function splitSnapshot(snapshot: string): { xmin: string; xmax: string; xip: string[] } {
  const m = /^(\d+):(\d+):([\d,]*)$/.exec(snapshot);
  if (!m) throw new Error(`not a pg_snapshot: ${snapshot}`);
  return { xmin: m[1]!, xmax: m[2]!, xip: m[3] ? m[3].split(',') : [] };
}

// Not visible in the previous snapshot, as two index conditions. Both are sent as values, not
// computed in SQL: the planner then estimates them from the column's statistics instead of
// guessing (a guess that picked a full scan in test/pump-outbox-sql).
export const newSince = (xmax: string, xip: string) => `(o.txid >= ${xmax}::xid8 OR o.txid = ANY (${xip}::xid8[]))`;

/**
 * SQL over outbox alias o: not passed at a position (not visible in its snapshot, nor delivered by
 * the delta it records part way), its four parameters numbered from $`first` (positionParams).
 */
export const notPassedAt = (first: number) =>
  `${newSince(`$${first}`, `$${first + 1}`)} AND NOT (o.id <= $${first + 2} AND pg_visible_in_snapshot(o.txid, $${first + 3}::pg_snapshot))`;

/** The parameters of notPassedAt() for `position`. */
export function positionParams(position: Position): [string, string[], number, string] {
  const { xmax, xip } = splitSnapshot(position.snapshot);
  return [xmax, xip, position.partial?.throughId ?? 0, position.partial?.snapshot ?? position.snapshot];
}

/** The next delta's extent, per part: from the previous snapshot to one taken by this very statement. */
export interface Delta {
  /** The snapshot this statement ran with, as text: the delta's upper bound. */
  snapshot: string;
  events: number;
  firstId: number | null;
  lastId: number | null;
  /** Each part's first and last id, and the xip part's size. */
  rangeFirst: number | null;
  rangeLast: number | null;
  xipFirst: number | null;
  xipLast: number | null;
  xipEvents: number;
  /**
   * The WAL insert position after the snapshot was taken: at or past the commit record of every
   * transaction in the delta (PUMP_WAIT_FOR_STANDBYS waits for standbys to flush it).
   */
  lsn: string;
}

const COLUMNS = `o.id, o.event_id, o.subject, o.ordering_key, o.attributes, o.occurred_at,
  EXISTS (SELECT 1 FROM statehub.outbox_parked p
           WHERE p.ordering_key = o.ordering_key AND p.state IN ('failed', 'waiting')) AS blocked`;

// The range part's page filter, said with functions the txid index cannot serve, so the only
// index path is the primary key's id range in id order. ($range is 'xmax:xmax:' of the previous
// snapshot: not visible in it means txid >= xmax.) Offered the txid index, the planner takes it
// on stale statistics and sorts the whole delta for every page.
const IN_RANGE_PART = (range: string, current: string) =>
  `NOT pg_visible_in_snapshot(o.txid, ${range}::pg_snapshot) AND pg_visible_in_snapshot(o.txid, ${current}::pg_snapshot)`;

/**
 * Opens the next delta and reads the first page of each part, in one round trip.
 * pg_current_snapshot() is the statement's own snapshot, so the rows it sees are exactly those
 * visible in it: nothing can commit "in between" and be missed. To resume a delta recorded part
 * way, $5 is its snapshot and $6 the last id delivered ('o.id + 0': with 0, a plain 'o.id > 0'
 * tempts the planner into a bitmap of the whole primary key). The xip part's page comes along only when
 * it is small enough to be read whole (OFFSET 0 keeps that subquery on the txid index); a large
 * one is paged through the primary key (readXipPageSql).
 */
export const openDeltaSql = `
  WITH extent AS MATERIALIZED (
    SELECT coalesce($5::pg_snapshot, pg_current_snapshot()) AS snap, pg_current_wal_insert_lsn()::text AS lsn, count(*)::int AS events, min(o.id) AS first_id, max(o.id) AS last_id,
           min(o.id) FILTER (WHERE o.txid >= $1::xid8) AS range_first, max(o.id) FILTER (WHERE o.txid >= $1::xid8) AS range_last,
           min(o.id) FILTER (WHERE o.txid < $1::xid8) AS xip_first, max(o.id) FILTER (WHERE o.txid < $1::xid8) AS xip_last,
           (count(*) FILTER (WHERE o.txid < $1::xid8))::int AS xip_events
      FROM statehub.outbox o
     WHERE ${newSince('$1', '$2')} AND pg_visible_in_snapshot(o.txid, coalesce($5::pg_snapshot, pg_current_snapshot())) AND o.id + 0 > $6
  )
  SELECT e.snap::text AS delta_snapshot, e.lsn AS delta_lsn, e.events AS delta_events, e.first_id AS delta_first_id, e.last_id AS delta_last_id,
         e.range_first AS delta_range_first, e.range_last AS delta_range_last,
         e.xip_first AS delta_xip_first, e.xip_last AS delta_xip_last, e.xip_events AS delta_xip_events, 'range' AS part, page.*
    FROM extent e
    LEFT JOIN LATERAL (
      SELECT ${COLUMNS}
        FROM statehub.outbox o
       WHERE o.id >= e.range_first AND o.id <= e.range_last AND ${IN_RANGE_PART('$4', 'e.snap')}
       ORDER BY o.id
       LIMIT $3
    ) AS page ON true
  UNION ALL
  SELECT e.snap::text, e.lsn, e.events, e.first_id, e.last_id, e.range_first, e.range_last, e.xip_first, e.xip_last, e.xip_events, 'xip', x.*
    FROM extent e
    JOIN LATERAL (
      SELECT * FROM (
        SELECT ${COLUMNS}
          FROM statehub.outbox o
         WHERE o.txid = ANY ($2::xid8[]) AND pg_visible_in_snapshot(o.txid, e.snap) AND o.id + 0 > $6
        OFFSET 0
      ) AS x
      ORDER BY x.id
    ) AS x ON e.xip_events BETWEEN 1 AND $3`;

/** The range part's next page, after `afterId`, through the primary key. */
export const readRangePageSql = `
  SELECT ${COLUMNS}
    FROM statehub.outbox o
   WHERE o.id > $3 AND o.id <= $4 AND ${IN_RANGE_PART('$1', '$2')}
   ORDER BY o.id
   LIMIT $5`;

/**
 * A large xip part's next page (a transaction that wrote many events while the previous
 * snapshot was taken, e.g. the rows migration 0007 left pending), through the primary key between
 * the part's first and last id. In the xip list means: not visible in the previous snapshot
 * ($1, its whole text) and below its xmax ($2 is 'xmax:xmax:'). Said with functions, the txid
 * index is not offered: sorting the part for every page would cost the square of its size.
 */
export const readXipPageSql = `
  SELECT ${COLUMNS}
    FROM statehub.outbox o
   WHERE o.id > $4 AND o.id <= $5
     AND NOT pg_visible_in_snapshot(o.txid, $1::pg_snapshot) AND pg_visible_in_snapshot(o.txid, $2::pg_snapshot)
     AND pg_visible_in_snapshot(o.txid, $3::pg_snapshot)
   ORDER BY o.id
   LIMIT $6`;

type Row = DeltaRow & {
  delta_snapshot: string;
  delta_lsn: string;
  delta_events: number;
  delta_first_id: number | null;
  delta_last_id: number | null;
  delta_range_first: number | null;
  delta_range_last: number | null;
  delta_xip_first: number | null;
  delta_xip_last: number | null;
  delta_xip_events: number;
  part: 'range' | 'xip';
};

/** A delta to finish: its snapshot and the last id already delivered. */
export interface Resume {
  snapshot: string;
  afterId: number;
}

/** Opens the delta after `previous` (or resumes one); undefined when it holds nothing (more). */
export async function openDelta(db: Queryable, previous: string, pageSize: number, resume?: Resume): Promise<DeltaReader | undefined> {
  const { xmax, xip } = splitSnapshot(previous);
  const { rows } = await db.query<Row>(openDeltaSql, [xmax, xip, pageSize, `${xmax}:${xmax}:`, resume?.snapshot ?? null, resume?.afterId ?? 0]);
  const f = rows[0]!;
  if (f.delta_events === 0) return undefined;
  const delta: Delta = {
    snapshot: f.delta_snapshot,
    events: f.delta_events,
    firstId: f.delta_first_id,
    lastId: f.delta_last_id,
    rangeFirst: f.delta_range_first,
    rangeLast: f.delta_range_last,
    xipFirst: f.delta_xip_first,
    xipLast: f.delta_xip_last,
    xipEvents: f.delta_xip_events,
    lsn: f.delta_lsn,
  };
  const page = (part: Row['part']) =>
    rows
      .filter((r) => r.part === part && r.id !== null)
      .map(({ id, event_id, subject, ordering_key, attributes, occurred_at, blocked }) => ({ id, event_id, subject, ordering_key, attributes, occurred_at, blocked }))
      .sort((a, b) => a.id - b.id);
  return new DeltaReader(db, previous, delta, pageSize, page('range'), page('xip'), resume?.afterId ?? 0);
}

/** One part's rows, fetched a page at a time. */
class Part {
  rows: DeltaRow[] = [];
  exhausted = false;
  after: number;
  constructor(
    private readonly fetch: (after: number) => Promise<DeltaRow[]>,
    private readonly pageSize: number,
    after: number,
    private readonly last: number,
  ) {
    this.after = after;
  }

  take(page: DeltaRow[]): void {
    this.rows = page;
    const end = page.at(-1);
    if (end) this.after = end.id;
    if (page.length < this.pageSize || !end || end.id >= this.last) this.exhausted = true;
  }

  async fill(): Promise<void> {
    if (this.rows.length === 0 && !this.exhausted) this.take(await this.fetch(this.after));
  }
}

/** A delta's rows in id order, page by page, the two parts merged. */
export class DeltaReader {
  private readonly parts: Part[] = [];

  constructor(
    db: Queryable,
    previous: string,
    readonly delta: Delta,
    private readonly pageSize: number,
    firstRangePage: DeltaRow[],
    firstXipPage: DeltaRow[],
    afterId: number,
  ) {
    const { xmax } = splitSnapshot(previous);
    if (delta.rangeFirst !== null) {
      const range = new Part(
        (after) => db.query<DeltaRow>(readRangePageSql, [`${xmax}:${xmax}:`, delta.snapshot, after, delta.rangeLast, pageSize]).then((r) => r.rows),
        pageSize,
        delta.rangeFirst - 1,
        delta.rangeLast!,
      );
      range.take(firstRangePage);
      this.parts.push(range);
    }
    if (delta.xipEvents > 0) {
      const xipPart = new Part(
        (after) => db.query<DeltaRow>(readXipPageSql, [previous, `${xmax}:${xmax}:`, delta.snapshot, after, delta.xipLast, pageSize]).then((r) => r.rows),
        pageSize,
        Math.max(afterId, delta.xipFirst! - 1),
        delta.xipLast!,
      );
      // A small part came whole with the delta; a large one is read page by page.
      if (delta.xipEvents <= pageSize) {
        xipPart.take(firstXipPage);
        xipPart.exhausted = true;
      }
      this.parts.push(xipPart);
    }
  }

  /** The next rows in id order (at most a page); undefined once the delta is read. */
  async next(): Promise<DeltaRow[] | undefined> {
    const out: DeltaRow[] = [];
    while (out.length < this.pageSize) {
      await Promise.all(this.parts.map((p) => p.fill()));
      const live = this.parts.filter((p) => p.rows.length > 0);
      if (live.length === 0) break;
      // Take from the part with the lowest next id, as long as no other part could still hold a
      // lower one (a part with rows has its lowest in memory; an empty part is exhausted here).
      const from = live.reduce((a, b) => (a.rows[0]!.id <= b.rows[0]!.id ? a : b));
      const bound = Math.min(...live.filter((p) => p !== from).map((p) => p.rows[0]!.id), Infinity);
      let i = 0;
      while (i < from.rows.length && from.rows[i]!.id < bound && out.length < this.pageSize) out.push(from.rows[i++]!);
      from.rows = from.rows.slice(i);
    }
    return out.length > 0 ? out : undefined;
  }
}
