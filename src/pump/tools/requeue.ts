// `statehub outbox requeue`: gives failed rows back to the pump. Clearing failed_at makes a row
// pending again (the pump reads every pending row), and last_error goes with it so a new failure
// is not confused with the old one. attempts is kept: it is history, not a retry budget.
import type { Queryable } from '../../db.ts';
import { WAKE_CHANNEL, WAKE_PAYLOAD } from '../../events/wake.ts';

export interface RequeueResult {
  requeued: number[];
  /** Ids asked for that were not failed (pending, published or absent): left alone. */
  skipped: number[];
}

export async function requeueFailed(db: Queryable, which: { ids: number[] } | { all: true }): Promise<RequeueResult> {
  const all = 'all' in which;
  const { rows } = await db.query<{ id: number }>(
    `UPDATE statehub.outbox SET failed_at = NULL, last_error = NULL
      WHERE failed_at IS NOT NULL AND ($1::boolean OR id = ANY($2::bigint[]))
      RETURNING id`,
    [all, all ? [] : which.ids],
  );
  const requeued = rows.map((r) => r.id).sort((a, b) => a - b);
  // Wakes an idle pump now rather than at its next safety poll.
  if (requeued.length > 0) await db.query('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, WAKE_PAYLOAD]);
  const done = new Set(requeued);
  const skipped = all ? [] : [...new Set(which.ids)].filter((id) => !done.has(id));
  return { requeued, skipped };
}
