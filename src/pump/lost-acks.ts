// A stream that loses what it acknowledged. JetStream numbers a stream's messages without
// reusing a sequence, so a fresh (not duplicate) PubAck whose sequence is not above the highest
// one the pump was given says the stream lost every message it had acknowledged from that
// sequence on: nats-server 2.9 did so here once, in a stream leader election (docs/ha.md), and
// any server does after a power loss (it does not fsync each message by default). The pump
// then publishes again, with their own ids, the events it passed since the batch before the
// first one that reached that sequence, and the released parked events published at or after
// it: JetStream drops as duplicates those it still holds and stores the lost ones. A stream
// created anew (another creation time) is not restored: what it held was removed on purpose,
// and `statehub replay` re-publishes it on request.
import type { Queryable } from '../db.ts';
import { notPassedAt, positionParams } from './delta.ts';
import { readBatchPosition, readPosition, type Ack, type OutboxRow, type Position } from './outbox.ts';

export interface Lost {
  stream: string;
  /** The first sequence given out again: messages acknowledged from it on are gone. */
  fromSeq: number;
  /** The highest sequence acknowledged before. */
  throughSeq: number;
}

export class SequenceWatch {
  private highest = 0;
  /** The creation time of the stream the sequences are of; another one starts a new watch. */
  created: string | undefined;
  lost: Lost | undefined;

  /** Takes a PubAck; true when it shows a loss (kept in `lost` until restored()). */
  observe(ack: Ack): boolean {
    if (ack.duplicate) return false;
    const found = ack.seq <= this.highest;
    if (found) {
      this.lost = { stream: ack.stream, fromSeq: Math.min(this.lost?.fromSeq ?? ack.seq, ack.seq), throughSeq: Math.max(this.lost?.throughSeq ?? 0, this.highest) };
    }
    this.highest = found ? ack.seq : Math.max(this.highest, ack.seq);
    return found;
  }

  /** Starts over, for the stream created at `created` (undefined: not known yet). */
  restart(created: string | undefined): void {
    this.highest = 0;
    this.lost = undefined;
    this.created = created;
  }

  restored(): void {
    this.lost = undefined;
  }
}

/** What to publish again after a loss, from restorePlan(). */
export interface RestorePlan {
  lost: Lost;
  /** The stream's creation time: batches and parked events of an older stream of that name do not count. */
  createdAt: string;
  windowMs: number;
  /** The position before the first batch that reached the lost sequence; undefined when no batch within the window reached it. */
  since?: Position;
  /** The position now: what it has not passed is still to come by the deltas. */
  now: Position;
  /** Batches that reached the lost sequence before the duplicate window (or whose predecessor is pruned): not published again. */
  older: number;
}

const REACHED = `b.stream = $1 AND b.last_seq >= $2 AND b.started_at >= $3::timestamptz`;
const IN_WINDOW = `b.finished_at >= now() - $4 * interval '1 millisecond'`;

export async function restorePlan(db: Queryable, lost: Lost, createdAt: string, windowMs: number): Promise<RestorePlan> {
  const { rows } = await db.query<{ first: string | null; previous: string | null; older: number }>(
    `WITH first AS (SELECT min(b.id) AS id FROM statehub.outbox_batches b WHERE ${REACHED} AND ${IN_WINDOW})
     SELECT f.id::text AS first, fb.previous_id::text AS previous,
            (SELECT count(*)::int FROM statehub.outbox_batches b WHERE ${REACHED} AND NOT ${IN_WINDOW}) AS older
       FROM first f LEFT JOIN statehub.outbox_batches fb ON fb.id = f.id`,
    [lost.stream, lost.fromSeq, createdAt, windowMs],
  );
  const r = rows[0]!;
  const since = r.previous === null ? undefined : await readBatchPosition(db, 'WHERE id = $1', [r.previous]);
  const plan: RestorePlan = { lost, createdAt, windowMs, since, now: await readPosition(db), older: r.older };
  if (r.first !== null && !since) plan.older++; // its predecessor was pruned: where it began is unknown
  return plan;
}

// Passed since the plan's position (through the txid index, like a delta) and passed now; not
// held in the parked table.
const PASSED_SINCE = `
  FROM statehub.outbox o
 WHERE ${notPassedAt(1)} AND NOT (${notPassedAt(5)})
   AND NOT EXISTS (SELECT 1 FROM statehub.outbox_parked p WHERE p.outbox_id = o.id AND p.state <> 'published')`;

// Parked events released and published at or after the lost sequence, into this stream, within the window.
const RELEASED_SINCE = `
  FROM statehub.outbox_parked p JOIN statehub.outbox o ON o.id = p.outbox_id
 WHERE p.state = 'published' AND p.stream = $1 AND p.stream_seq >= $2 AND p.updated_at >= $3::timestamptz
   AND p.updated_at >= now() - $4 * interval '1 millisecond'`;

export type LostPart = 'released' | 'passed';

function partQuery(plan: RestorePlan, part: LostPart): { from: string; params: unknown[] } | undefined {
  if (part === 'released') return { from: RELEASED_SINCE, params: [plan.lost.stream, plan.lost.fromSeq, plan.createdAt, plan.windowMs] };
  return plan.since && { from: PASSED_SINCE, params: [...positionParams(plan.since), ...positionParams(plan.now)] };
}

/** A page of one part of what to publish again, in id order, after id `afterId`. */
export async function readLost(db: Queryable, plan: RestorePlan, part: LostPart, afterId: number, limit: number): Promise<OutboxRow[]> {
  const q = partQuery(plan, part);
  if (!q) return [];
  const n = q.params.length;
  const { rows } = await db.query<OutboxRow>(
    `SELECT o.id, o.event_id, o.subject, o.ordering_key, o.attributes, o.occurred_at ${q.from} AND o.id > $${n + 1} ORDER BY o.id LIMIT $${n + 2}`,
    [...q.params, afterId, limit],
  );
  return rows;
}

/** How many events the plan publishes again, and the earliest occurred_at among them (for a `statehub replay --since` hint). */
export async function measureLost(db: Queryable, plan: RestorePlan): Promise<{ events: number; firstOccurred: Date | null }> {
  let events = 0;
  let firstOccurred: Date | null = null;
  for (const part of ['released', 'passed'] as const) {
    const q = partQuery(plan, part);
    if (!q) continue;
    const { rows } = await db.query<{ n: number; first: Date | null }>(`SELECT count(*)::int AS n, min(o.occurred_at) AS first ${q.from}`, q.params);
    events += rows[0]!.n;
    const first = rows[0]!.first;
    if (first && (!firstOccurred || first < firstOccurred)) firstOccurred = first;
  }
  return { events, firstOccurred };
}
