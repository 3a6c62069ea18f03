// A stream that loses what it acknowledged. JetStream numbers a stream's messages without
// reusing a sequence, so a fresh (not duplicate) PubAck whose sequence is not above the highest
// one the pump was given says the stream lost every message it had acknowledged from that
// sequence on: nats-server 2.9 did so here once, in a stream leader election (docs/ha.md), and
// any server does after a power loss (it does not fsync each message by default). The pump
// then publishes again, with their own ids, the events it passed from the first batch that
// reached that sequence: JetStream drops as duplicates those it still holds and stores the lost
// ones. A stream created anew (other creation time) is not restored: what it held was removed
// on purpose, and `statehub replay` re-publishes it on request.
import type { Queryable } from '../db.ts';
import type { PubAck } from './jetstream-publisher.ts';
import type { OutboxRow } from './outbox.ts';

export interface Lost {
  stream: string;
  /** The first sequence given out again: messages acknowledged from it on are gone. */
  fromSeq: number;
  /** The highest sequence acknowledged before. */
  throughSeq: number;
}

export class SequenceWatch {
  private highest = 0;
  /** The stream's creation time when the watch began; a stream created anew starts a new watch. */
  created: string | undefined;
  lost: Lost | undefined;

  /** Takes a PubAck; true when it shows a loss (noted in `lost` until restored()). */
  observe(ack: PubAck): boolean {
    if (ack.duplicate) return false;
    const found = ack.seq <= this.highest;
    if (found) this.lost = { stream: ack.stream, fromSeq: Math.min(this.lost?.fromSeq ?? ack.seq, ack.seq), throughSeq: Math.max(this.lost?.throughSeq ?? 0, this.highest) };
    this.highest = found ? ack.seq : Math.max(this.highest, ack.seq);
    return found;
  }

  /** Starts over, for a stream created at `created` (undefined: not known yet). */
  restart(created: string | undefined): void {
    this.highest = 0;
    this.lost = undefined;
    this.created = created;
  }

  restored(): void {
    this.lost = undefined;
  }
}

/**
 * The first outbox id to publish again after `lost`: of the batches (and released parked events)
 * that reached its first sequence, within the duplicate window (older ones would be stored
 * twice). `older` counts the batches that reached it before the window.
 */
export async function restoreFrom(db: Queryable, lost: Lost, windowMs: number): Promise<{ fromId: number | null; older: number }> {
  const { rows } = await db.query<{ from_id: string | null; older: number }>(
    `SELECT least((SELECT min(b.first_id) FROM statehub.outbox_batches b
                    WHERE b.stream = $1 AND b.last_seq >= $2 AND b.finished_at >= now() - $3 * interval '1 millisecond'),
                  (SELECT min(p.outbox_id) FROM statehub.outbox_parked p
                    WHERE p.state = 'published' AND p.stream = $1 AND p.stream_seq >= $2
                      AND p.updated_at >= now() - $3 * interval '1 millisecond'))::text AS from_id,
            (SELECT count(*)::int FROM statehub.outbox_batches b
              WHERE b.stream = $1 AND b.last_seq >= $2 AND b.finished_at < now() - $3 * interval '1 millisecond') AS older`,
    [lost.stream, lost.fromSeq, windowMs],
  );
  const r = rows[0]!;
  return { fromId: r.from_id === null ? null : Number(r.from_id), older: r.older };
}

/**
 * A page of the events the pump has passed and published, from id `fromId` on, after id
 * `afterId`: visible in the newest batch's snapshot, or in the delta it records part way up to
 * its through_id; not parked unless published from there.
 */
export async function readPassed(db: Queryable, fromId: number, afterId: number, limit: number): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>(
    `SELECT o.id, o.event_id, o.subject, o.ordering_key, o.attributes, o.occurred_at
       FROM statehub.outbox o,
            (SELECT snapshot, next_snapshot, through_id FROM statehub.outbox_batches ORDER BY id DESC LIMIT 1) b
      WHERE o.id >= $1 AND o.id > $2
        AND (pg_visible_in_snapshot(o.txid, b.snapshot)
             OR (o.id <= b.through_id AND pg_visible_in_snapshot(o.txid, b.next_snapshot)))
        AND NOT EXISTS (SELECT 1 FROM statehub.outbox_parked p WHERE p.outbox_id = o.id AND p.state <> 'published')
      ORDER BY o.id
      LIMIT $3`,
    [fromId, afterId, limit],
  );
  return rows;
}
