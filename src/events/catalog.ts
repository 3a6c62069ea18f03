// The event catalog (v1.0): the one TypeScript source of subjects, attribute schemas and the
// envelope. The SQL capture triggers write these subjects and attributes; a test checks that
// sql/, this file and docs/nats-event-subjects.md agree.
import { z } from 'zod';
import { taskStatus, workstreamStatus } from '../operations/statuses.ts';

export const ENVELOPE_VERSION = '1.0';
export const DEFAULT_PUBLISHER = 'the-custodian/state-hub';
export const SUBJECT_PREFIX = 'org.statehub.';

const id = z.number().int().positive();
// Optional attributes are always present in the envelope, as null when the row has no value.
const optionalId = id.nullable();
const optionalText = z.string().nullable();

export const catalog = {
  'org.statehub.repo.registered': z.strictObject({
    repo_id: id,
    repo_slug: z.string(),
    domain_slug: z.string(),
    remote_url: optionalText,
    local_path: optionalText,
  }),
  'org.statehub.workstream.completed': z.strictObject({
    workstream_id: id,
    slug: z.string(),
    title: z.string(),
    topic_id: id,
    repo_id: optionalId,
    repo_goal_id: optionalId,
  }),
  'org.statehub.decision.resolved': z.strictObject({
    decision_id: id,
    title: z.string(),
    topic_id: optionalId,
    workstream_id: optionalId,
    decided_by: z.string(),
    rationale_snippet: z.string().max(280),
  }),
  'org.statehub.domain.goal.activated': z.strictObject({
    goal_id: id,
    domain_id: id,
    domain_slug: z.string(),
    title: z.string(),
    superseded_goal_ids: z.array(id),
  }),
  'org.statehub.task.stale': z.strictObject({
    task_id: id,
    workstream_id: id,
    workstream_status: workstreamStatus.extract(['completed', 'cancelled']),
    task_title: z.string(),
    task_status_before: taskStatus.extract(['todo', 'in_progress', 'blocked']),
  }),
} as const;

export type Subject = keyof typeof catalog;
export const SUBJECTS = Object.keys(catalog) as Subject[];
export type Attributes<S extends Subject> = z.infer<(typeof catalog)[S]>;

export function isSubject(s: string): s is Subject {
  return Object.hasOwn(catalog, s);
}

export interface Envelope<S extends Subject = Subject> {
  id: string;
  type: S;
  version: typeof ENVELOPE_VERSION;
  timestamp: string;
  publisher: string;
  attributes: Attributes<S>;
}

/** What the pump needs of an outbox row to build the envelope. */
export interface CapturedEvent {
  event_id: string;
  subject: string;
  attributes: unknown;
  occurred_at: Date;
}

/** Thrown when a captured row does not match the catalog: permanent, the row is set aside. */
export class CatalogError extends Error {
  override name = 'CatalogError';
}

/** Validates a captured event against the catalog and builds its envelope. */
export function toEnvelope(event: CapturedEvent, publisher: string = DEFAULT_PUBLISHER): Envelope {
  if (!isSubject(event.subject)) throw new CatalogError(`unknown subject ${event.subject}`);
  const parsed = catalog[event.subject].safeParse(event.attributes);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new CatalogError(`attributes of ${event.subject} do not match the catalog: ${problems}`);
  }
  return {
    id: event.event_id,
    type: event.subject,
    version: ENVELOPE_VERSION,
    timestamp: event.occurred_at.toISOString(),
    publisher,
    attributes: parsed.data as Attributes<Subject>,
  };
}
