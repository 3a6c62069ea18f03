// `statehub outbox requeue` and `statehub outbox skip`: what an operator does with a failed
// event, which blocks its ordering key (later events of that entity wait behind it).
//   requeue: the pump publishes it again, then the events waiting behind it, in order.
//   skip:    it is given up on (with a reason, kept); the events behind it are published.
// Either way the key's order is kept. Both send the pump's wake-up so the leader acts at once.
import type { Queryable } from '../../db.ts';
import { WAKE_CHANNEL, WAKE_PAYLOAD } from '../../events/wake.ts';

export interface ParkedChange {
  /** Outbox ids changed. */
  changed: number[];
  /** Ids asked for that were not failed (waiting, published, skipped, never parked or absent): left alone. */
  ignored: number[];
}

async function change(db: Queryable, sql: string, params: unknown[], ids: number[] | 'all'): Promise<ParkedChange> {
  const { rows } = await db.query<{ outbox_id: number }>(sql, params);
  const changed = rows.map((r) => r.outbox_id).sort((a, b) => a - b);
  if (changed.length > 0) await db.query('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, WAKE_PAYLOAD]);
  const done = new Set(changed);
  return { changed, ignored: ids === 'all' ? [] : [...new Set(ids)].filter((id) => !done.has(id)) };
}

/** Failed events become waiting: the pump publishes them first thing, each before the rest of its key. */
export function requeueFailed(db: Queryable, ids: number[] | 'all'): Promise<ParkedChange> {
  return change(
    db,
    `UPDATE statehub.outbox_parked SET state = 'waiting', updated_at = now()
      WHERE state = 'failed' AND ($1::boolean OR outbox_id = ANY($2::bigint[]))
      RETURNING outbox_id`,
    [ids === 'all', ids === 'all' ? [] : ids],
    ids,
  );
}

/** Failed events are given up on; their keys' waiting events are published. */
export function skipFailed(db: Queryable, ids: number[], reason: string): Promise<ParkedChange> {
  return change(
    db,
    `UPDATE statehub.outbox_parked SET state = 'skipped', skip_reason = $2, updated_at = now()
      WHERE state = 'failed' AND outbox_id = ANY($1::bigint[])
      RETURNING outbox_id`,
    [ids, reason],
    ids,
  );
}
