// `statehub outbox status [--event UUID]`: what an operator asks first when events seem late,
// and "was this event published, and where?".
import type { Queryable } from '../../db.ts';
import { backlog } from '../../pump/backlog.ts';
import { describeForeignHolder, leaderLockHolder, type LockHolder } from '../../pump/lock-holder.ts';
import type { StandbyCount } from '../../pump/standbys.ts';
import { formatAge } from './common.ts';

export interface BlockedKey {
  ordering_key: string;
  /** The failed event blocking it (the oldest, when several). */
  failed_id: number;
  error: string;
  blocked_since: string;
  /** Events of the key waiting behind it. */
  waiting: number;
}

export interface OutboxStatus {
  /** Committed events the pump has not passed yet. */
  pending: number;
  oldest_pending_age_ms: number | null;
  oldest_pending_id: number | null;
  /** Parked events that failed, and those waiting behind them. */
  failed: number;
  waiting: number;
  /** The blocked keys, longest blocked first (at most 20; blocked_key_count has them all). */
  blocked_keys: BlockedKey[];
  blocked_key_count: number;
  oldest_blocked_age_ms: number | null;
  last_batch: { id: number; finished_at: string; events: number; stream: string | null; first_seq: number | null; last_seq: number | null } | null;
  /** The session holding the pump's leader lock: a pump's (pump true) or not; null when free. */
  leader_lock: LockHolder | null;
  /**
   * The physical standbys streaming now, how many have flushed all WAL written so far, and how
   * many the pump waits for (PUMP_WAIT_FOR_STANDBYS, as this tool's environment sets it).
   */
  standbys: StandbyCount & { wait_for: number };
}

/** `waitForStandbys`: PUMP_WAIT_FOR_STANDBYS of the tool's environment, to say whether the pump waits. */
export async function outboxStatus(db: Queryable, waitForStandbys = 0): Promise<OutboxStatus> {
  const b = await backlog(db);
  const { rows: blocked } = await db.query<Omit<BlockedKey, 'blocked_since'> & { blocked_since: Date }>(
    `SELECT f.ordering_key, f.outbox_id AS failed_id, f.error, f.parked_at AS blocked_since,
            (SELECT count(*)::int FROM statehub.outbox_parked w WHERE w.ordering_key = f.ordering_key AND w.state = 'waiting') AS waiting
       FROM (SELECT DISTINCT ON (ordering_key) ordering_key, outbox_id, error, parked_at
               FROM statehub.outbox_parked WHERE state = 'failed' ORDER BY ordering_key, outbox_id) AS f
      ORDER BY f.parked_at, f.outbox_id
      LIMIT 20`,
  );
  const { rows: last } = await db.query<{ id: number; finished_at: Date; events: number; stream: string | null; first_seq: number | null; last_seq: number | null }>(
    'SELECT id, finished_at, events, stream, first_seq, last_seq FROM statehub.outbox_batches ORDER BY id DESC LIMIT 1',
  );
  const l = last[0];
  return {
    pending: b.pending,
    oldest_pending_age_ms: b.oldestAgeMs === null ? null : Math.round(b.oldestAgeMs),
    oldest_pending_id: b.oldestId,
    failed: b.failed,
    waiting: b.waiting,
    blocked_keys: blocked.map((k) => ({ ...k, blocked_since: k.blocked_since.toISOString() })),
    blocked_key_count: b.blockedKeys,
    oldest_blocked_age_ms: b.oldestBlockedAgeMs === null ? null : Math.round(b.oldestBlockedAgeMs),
    last_batch: l ? { ...l, finished_at: l.finished_at.toISOString() } : null,
    leader_lock: (await leaderLockHolder(db)) ?? null,
    standbys: { ...(await standbysNow(db)), wait_for: waitForStandbys },
  };
}

async function standbysNow(db: Queryable): Promise<StandbyCount> {
  const { rows } = await db.query<StandbyCount>('SELECT streaming, confirmed, hidden FROM statehub.standbys_flushed(pg_current_wal_insert_lsn())');
  return rows[0]!;
}

function formatStandbys({ streaming, confirmed, hidden, wait_for }: OutboxStatus['standbys']): string {
  const seen = `${streaming} streaming, ${confirmed} with all WAL written so far` + (hidden > 0 ? `, ${hidden} hidden (grant pg_read_all_stats to the owner of statehub.standbys_flushed())` : '');
  if (wait_for === 0) return seen;
  return `${seen}; the pump publishes what ${wait_for} of them have (PUMP_WAIT_FOR_STANDBYS)` + (streaming < wait_for ? `: with ${streaming} streaming, nothing is published` : '');
}

export function formatStatus(s: OutboxStatus, now = new Date()): string {
  const pending =
    s.pending === 0 ? '0' : `${s.pending} (oldest ${formatAge(s.oldest_pending_age_ms ?? 0)} old, id ${s.oldest_pending_id})`;
  const failed = s.failed === 0 ? '0' : `${s.failed}, ${s.waiting} waiting behind them, ${s.blocked_key_count} key(s) blocked`;
  const l = s.last_batch;
  const last = l
    ? `${l.finished_at} (${formatAge(now.getTime() - Date.parse(l.finished_at))} ago), batch ${l.id}, ${l.events} event(s)` +
      (l.stream ? `, ${l.stream} #${l.first_seq}–${l.last_seq}` : '')
    : 'never';
  const h = s.leader_lock;
  const leader = !h ? 'free: no pump leads' : h.pump ? `a pump (pid ${h.pid}, user ${h.user ?? '?'})` : `NOT A PUMP: ${describeForeignHolder(h)}`;
  const lines = [
    `pending:        ${pending}`,
    `failed:         ${failed}`,
    `last batch:     ${last}`,
    `leader lock:    ${leader}`,
    `standbys:       ${formatStandbys(s.standbys)}`,
  ];
  for (const k of s.blocked_keys) {
    lines.push(`  blocked ${k.ordering_key} for ${formatAge(now.getTime() - Date.parse(k.blocked_since))} by event ${k.failed_id} (${k.waiting} waiting): ${k.error}`);
  }
  if (s.failed > 0) lines.push('  (statehub outbox requeue ID retries an event; statehub outbox skip ID --reason TEXT gives it up)');
  return lines.join('\n') + '\n';
}

export type EventStatus =
  | { event_id: string; outbox_id: number; subject: string; ordering_key: string; occurred_at: string } & (
      | { state: 'pending' }
      | { state: 'published'; stream: string | null; first_seq: number | null; last_seq: number | null; batch_id: number | null; published_at: string }
      | { state: 'failed' | 'waiting' | 'skipped'; error: string | null; skip_reason: string | null; since: string }
    );

/**
 * The batch row that delivered outbox row `o`: the first whose snapshot sees it, or that
 * recorded its delta part way, through its id. For a LATERAL join.
 */
export const BATCH_OF_ROW = `
  SELECT * FROM (
    (SELECT * FROM statehub.outbox_batches b
      WHERE b.snapshot_xmax > o.txid AND pg_visible_in_snapshot(o.txid, b.snapshot)
      ORDER BY b.snapshot_xmax, b.id LIMIT 1)
    UNION ALL
    (SELECT * FROM statehub.outbox_batches b
      WHERE b.through_id IS NOT NULL AND b.through_id >= o.id AND pg_visible_in_snapshot(o.txid, b.next_snapshot)
      ORDER BY b.id LIMIT 1)
  ) AS first ORDER BY first.id LIMIT 1`;

/**
 * Where one event is. The outbox is not indexed on event_id (a random uuid index costs every
 * capture a full-page write), so this reads the table once: an operator's question, not the pump's.
 * An event published from the parked table has its own stream sequence; one published in a delta
 * has its batch's sequence range.
 */
export async function eventStatus(db: Queryable, eventId: string): Promise<EventStatus | undefined> {
  const { rows } = await db.query(
    `SELECT o.id AS outbox_id, o.event_id, o.subject, o.ordering_key, o.occurred_at,
            p.state AS parked_state, p.error, p.skip_reason, p.stream AS parked_stream, p.stream_seq, p.updated_at,
            b.id AS batch_id, b.stream, b.first_seq, b.last_seq, b.finished_at
       FROM statehub.outbox o
       LEFT JOIN statehub.outbox_parked p ON p.outbox_id = o.id
       LEFT JOIN LATERAL (${BATCH_OF_ROW}) AS b ON true
      WHERE o.event_id = $1`,
    [eventId],
  );
  const r = rows[0];
  if (!r) return undefined;
  const base = { event_id: r.event_id, outbox_id: r.outbox_id, subject: r.subject, ordering_key: r.ordering_key, occurred_at: r.occurred_at.toISOString() };
  if (r.parked_state === 'published') {
    return { ...base, state: 'published', stream: r.parked_stream, first_seq: r.stream_seq, last_seq: r.stream_seq, batch_id: null, published_at: r.updated_at.toISOString() };
  }
  if (r.parked_state) return { ...base, state: r.parked_state, error: r.error, skip_reason: r.skip_reason, since: r.updated_at.toISOString() };
  if (r.batch_id === null) return { ...base, state: 'pending' };
  return { ...base, state: 'published', stream: r.stream, first_seq: r.first_seq, last_seq: r.last_seq, batch_id: r.batch_id, published_at: r.finished_at.toISOString() };
}

export function formatEventStatus(s: EventStatus): string {
  const head = `event ${s.event_id} (outbox id ${s.outbox_id}, ${s.subject}, ${s.ordering_key}, occurred ${s.occurred_at}): `;
  switch (s.state) {
    case 'pending':
      return `${head}pending\n`;
    case 'published': {
      const where = s.stream === null ? 'a stream the batch does not name' : `stream ${s.stream}`;
      const seq = s.first_seq === null ? '' : s.first_seq === s.last_seq ? ` at sequence ${s.first_seq}` : ` within sequences ${s.first_seq}–${s.last_seq}`;
      return `${head}published in ${where}${seq}, ${s.published_at}${s.batch_id === null ? ' (after requeue)' : ` (batch ${s.batch_id})`}\n`;
    }
    case 'skipped':
      return `${head}skipped since ${s.since}: ${s.skip_reason} (it had failed: ${s.error})\n`;
    default:
      return `${head}${s.state} since ${s.since}${!s.error ? '' : s.state === 'failed' ? `: ${s.error}` : ` (last error: ${s.error})`}\n`;
  }
}
