// What the pump checks of the database it reaches: at start, and again after every reconnect
// and change of leader, since a multi-host DATABASE_URL may lead it to another server (a
// promoted standby) without a restart.
//   * The delivery position must lie in this database's past. After a logical restore into
//     another cluster (pg_dump/pg_restore, logical replication) transaction ids start lower, new
//     events would look delivered already, and the pump would publish nothing without saying so.
//     A promoted physical standby passes: it has the ids of everything it replayed.
//   * Which database and history it publishes from (sql/810_database_origin.sql): sent as
//     headers on every message, so a consumer can tell a failover.
import type { Queryable } from '../db.ts';
import { readPosition } from './outbox.ts';

/** The database's transaction ids lie behind the recorded position: the pump cannot go on. */
export class PositionAheadError extends Error {
  override name = 'PositionAheadError';
}

export interface Origin {
  /** pg_control_system().system_identifier, as text (it exceeds 2^53). */
  system: string;
  timeline: number;
}

/** Checks the position against this database, and reads its origin. Throws PositionAheadError. */
export async function confirmDatabase(db: Queryable): Promise<Origin> {
  const position = await readPosition(db);
  const { rows } = await db.query<{ behind: boolean; system: string; timeline: number }>(
    `SELECT pg_snapshot_xmax(pg_current_snapshot()) < pg_snapshot_xmax($1::pg_snapshot) AS behind,
            o.system_identifier::text AS system, o.timeline
       FROM statehub.database_origin() o`,
    [position.partial?.snapshot ?? position.snapshot],
  );
  const r = rows[0]!;
  if (r.behind) {
    throw new PositionAheadError(
      `the delivery position (batch ${position.batchId}, snapshot ${position.snapshot}) is ahead of this database's transaction ids: ` +
        'it was restored from a logical dump into another cluster; reset the position as docs/operations.md ("After a logical restore") says',
    );
  }
  return { system: r.system, timeline: r.timeline };
}
