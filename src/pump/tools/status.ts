// `statehub outbox status`: what an operator asks first when events seem late.
import type { Queryable } from '../../db.ts';
import { backlog } from '../outbox.ts';
import { formatAge } from './common.ts';

export interface OutboxStatus {
  /** Rows waiting for the pump (neither published nor failed). */
  pending: number;
  /** Age of the oldest pending event (from its occurred_at), null when nothing is pending. */
  oldest_pending_age_ms: number | null;
  oldest_pending_id: number | null;
  /** Rows set aside by the pump; they wait for `outbox requeue`. */
  failed: number;
  last_published: { id: number; event_id: string; subject: string; published_at: string; stream: string; stream_seq: number } | null;
}

export async function outboxStatus(db: Queryable): Promise<OutboxStatus> {
  const b = await backlog(db);
  const last = await db.query<{ id: number; event_id: string; subject: string; published_at: Date; stream: string; stream_seq: number }>(
    `SELECT id, event_id, subject, published_at, stream, stream_seq FROM statehub.outbox
      WHERE published_at IS NOT NULL ORDER BY published_at DESC, id DESC LIMIT 1`,
  );
  const l = last.rows[0];
  return {
    pending: b.pending,
    oldest_pending_age_ms: b.oldestAgeMs === null ? null : Math.round(b.oldestAgeMs),
    oldest_pending_id: b.oldestId,
    failed: b.failed,
    last_published: l ? { ...l, published_at: l.published_at.toISOString() } : null,
  };
}

export function formatStatus(s: OutboxStatus, now = new Date()): string {
  const pending =
    s.pending === 0 ? '0' : `${s.pending} (oldest ${formatAge(s.oldest_pending_age_ms ?? 0)} old, id ${s.oldest_pending_id})`;
  const failed = s.failed === 0 ? '0' : `${s.failed} (statehub outbox requeue --all retries them)`;
  const l = s.last_published;
  const last = l
    ? `${l.published_at} (${formatAge(now.getTime() - Date.parse(l.published_at))} ago), id ${l.id}, ${l.subject}, ${l.stream} #${l.stream_seq}`
    : 'never';
  return [`pending:        ${pending}`, `failed:         ${failed}`, `last published: ${last}`].join('\n') + '\n';
}
