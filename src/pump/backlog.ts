// How far behind delivery is, for /metrics and `statehub outbox status`. Computed from the
// pump's position (the newest batch's snapshot): only rows the pump has not passed are read,
// through the txid index, never the published ones.
import type { Queryable } from '../db.ts';
import { notPassedAt, positionParams } from './delta.ts';
import { readPosition } from './outbox.ts';

export interface Backlog {
  /** Committed events the pump has not passed yet. */
  pending: number;
  /** The oldest of them (capture order) and its age; null when nothing is pending. */
  oldestId: number | null;
  oldestAgeMs: number | null;
  /** Parked events that failed; each blocks its ordering key. */
  failed: number;
  /** Parked events waiting to be published: behind a failed event of their key, or requeued. */
  waiting: number;
  /** Ordering keys with a failed event, and how long the oldest has been blocked. */
  blockedKeys: number;
  oldestBlockedAgeMs: number | null;
}

export async function backlog(db: Queryable): Promise<Backlog> {
  const position = await readPosition(db);
  const { rows } = await db.query<Backlog>(
    `WITH pending AS (
       SELECT o.id, o.occurred_at FROM statehub.outbox o
        WHERE ${notPassedAt(1)}
     ),
          parked AS (
            SELECT count(*) FILTER (WHERE state = 'failed')::int AS failed,
                   count(*) FILTER (WHERE state = 'waiting')::int AS waiting,
                   count(DISTINCT ordering_key) FILTER (WHERE state = 'failed')::int AS "blockedKeys",
                   min(parked_at) FILTER (WHERE state = 'failed') AS blocked_since
              FROM statehub.outbox_parked WHERE state IN ('failed', 'waiting')
          )
     SELECT (SELECT count(*) FROM pending)::int AS pending,
            o.id AS "oldestId",
            (extract(epoch FROM clock_timestamp() - o.occurred_at) * 1000)::float8 AS "oldestAgeMs",
            parked.failed, parked.waiting, parked."blockedKeys",
            (extract(epoch FROM clock_timestamp() - parked.blocked_since) * 1000)::float8 AS "oldestBlockedAgeMs"
       FROM parked
       LEFT JOIN LATERAL (SELECT id, occurred_at FROM pending ORDER BY id LIMIT 1) AS o ON true`,
    positionParams(position),
  );
  return rows[0]!;
}
