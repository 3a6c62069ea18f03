// `statehub outbox prune`: deletes delivered events older than the retention, and the batch rows
// of that age. Undelivered, failed and waiting events are never deleted.
import type { Queryable } from '../../db.ts';

export interface PruneResult {
  events: number;
  batches: number;
}

/**
 * Calls statehub.prune_outbox() (sql/850, SECURITY DEFINER: the pump role has no DELETE) step
 * by step, each step its own short transaction over at most `step` rows, until it is done.
 */
export async function pruneDelivered(db: Queryable, olderThanMs: number, step = 10_000): Promise<PruneResult> {
  const result: PruneResult = { events: 0, batches: 0 };
  for (let after = 0; ; ) {
    const { rows } = await db.query<{ events_deleted: number; batches_deleted: number; last_id: number; done: boolean }>(
      'SELECT * FROM statehub.prune_outbox($1::interval, $2, $3)',
      [`${olderThanMs} milliseconds`, after, step],
    );
    const r = rows[0]!;
    result.events += r.events_deleted;
    result.batches += r.batches_deleted;
    if (r.done) return result;
    after = r.last_id;
  }
}
