// Who holds the pump's leader lock. An advisory lock has no privileges: any login of the
// database can take it and so stop every pump from publishing. That cannot be prevented, so it
// is detected: the standbys look at the holder and report one that is not a pump on /readyz,
// in the metrics and in `statehub outbox status`.
import type { Queryable } from '../db.ts';

/** Differs from the wake lock key; the two-int form keeps it apart from every bigint key. */
export const LEADER_LOCK = [0x53544855, 0x504d5031] as const; // 'STHU', 'PMP1'
/**
 * Held in shared mode by every pump's lock session while that pump can publish (NATS connected,
 * stream usable), so a leader that cannot tells an outage of its own from one every pump shares.
 */
export const ABLE_LOCK = [0x53544855, 0x504d5032] as const; // 'STHU', 'PMP2'
export const LEADER_APPLICATION = 'statehub-pump-leader';

export interface LockHolder {
  pid: number;
  user: string | null;
  application: string;
  /** A pump's lock session: its application name, and a member of statehub_pump. */
  pump: boolean;
}

/** The advisory lock `key` (two-int form) as granted in this database, in pg_locks alias l. */
const GRANTED = (key1: string, key2: string) => `l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.classid::bigint = ${key1} AND l.objid::bigint = ${key2}
        AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())`;

/** Whether a session other than this one holds ABLE_LOCK: another pump could publish now. */
export async function anotherPumpCanPublish(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ other: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE ${GRANTED('$1', '$2')} AND l.pid <> pg_catalog.pg_backend_pid()) AS other`,
    [ABLE_LOCK[0], ABLE_LOCK[1]],
  );
  return rows[0]!.other;
}

/** The session holding the leader lock in this database; undefined when it is free. */
export async function leaderLockHolder(db: Queryable): Promise<LockHolder | undefined> {
  // The two-int form of an advisory lock shows as classid = key1, objid = key2, objsubid = 2.
  const { rows } = await db.query<LockHolder>(
    `SELECT a.pid, a.usename AS user, a.application_name AS application,
            coalesce(a.application_name = $3 AND pg_catalog.pg_has_role(a.usesysid, 'statehub_pump', 'MEMBER'), false) AS pump
       FROM pg_catalog.pg_locks l
       JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE ${GRANTED('$1', '$2')}`,
    [LEADER_LOCK[0], LEADER_LOCK[1], LEADER_APPLICATION],
  );
  return rows[0];
}

/** One line for an operator about a holder that is not a pump. */
export function describeForeignHolder(h: LockHolder): string {
  return (
    `the leader lock is held by a session that is not a pump (pid ${h.pid}, user ${h.user ?? '?'}, application "${h.application}"), ` +
    `so no pump can publish; end it with SELECT pg_terminate_backend(${h.pid})`
  );
}
