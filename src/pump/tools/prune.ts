// `statehub outbox prune`: deletes published rows older than the retention. Pending and failed
// rows are never deleted: they are events not yet delivered.
import type { Queryable } from '../../db.ts';

/**
 * Deletes rows published more than olderThanMs ago; returns how many. Goes through
 * statehub.prune_outbox(interval) (sql/850, SECURITY DEFINER): the pump role has no DELETE on
 * the outbox, and the function cannot touch an undelivered row whoever calls it.
 */
export async function prunePublished(db: Queryable, olderThanMs: number): Promise<number> {
  const { rows } = await db.query<{ deleted: number }>('SELECT statehub.prune_outbox($1::interval) AS deleted', [`${olderThanMs} milliseconds`]);
  return rows[0]!.deleted;
}
