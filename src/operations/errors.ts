// The errors an operation reports, whoever called it. Each transport turns them into its own
// form (HTTP: a problem+json status, MCP: an isError tool result); this is the one place that
// maps PostgreSQL SQLSTATEs to them. Messages are plain sentences: never SQL or a stack.
import type { z } from 'zod';

export interface FieldError {
  field: string;
  message: string;
}

export type ErrorKind =
  /** The resource named does not exist. */
  | 'not_found'
  /** The change breaks a rule given the data already in the hub; the message states the rule. */
  | 'conflict'
  /** The input itself is wrong, whatever the data. */
  | 'invalid'
  /** The input refers to a row (by id or slug) that does not exist, or to none where one is needed. */
  | 'unknown_reference'
  /** What the call would have to process is over a limit (a repo's workplan files). */
  | 'too_large'
  /** The database cannot answer now; the same call may succeed later. */
  | 'unavailable';

export class OperationError extends Error {
  override name = 'OperationError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly fields?: FieldError[],
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new OperationError('not_found', `${what} does not exist`);
export const conflict = (rule: string) => new OperationError('conflict', rule);
export const invalid = (message: string, fields?: FieldError[]) => new OperationError('invalid', message, fields);
export const unknownReference = (field: string, value: unknown) =>
  new OperationError('unknown_reference', `${field} ${String(value)} does not exist`, [{ field, message: 'does not exist' }]);
export const unavailable = (reason = 'the database is unavailable') => new OperationError('unavailable', reason);

/**
 * Constraint names the schema declares, the rule each one states, and the kind a breach is
 * when it is not the one its SQLSTATE implies. The reference rules of migrations/0003 are
 * conflicts with data already in the hub, whichever side of the reference changed.
 */
const constraintRules: Record<string, { rule: string; kind?: ErrorKind }> = {
  domain_goals_one_active_per_domain: {
    rule: 'a domain has at most one active goal; activate this goal instead (activation supersedes the current one)',
  },
  domains_slug_key: { rule: 'a domain with this slug already exists' },
  repos_slug_key: { rule: 'a repo with this slug already exists' },
  topics_slug_key: { rule: 'a topic with this slug already exists' },
  workstreams_slug_key: { rule: 'a workstream with this slug already exists' },
  decisions_resolved_has_decider: { rule: 'a resolved decision needs decided_by and rationale' },
  domain_goals_superseded_by_iff_superseded: { rule: 'superseded_by is set exactly when a goal is superseded' },
  outbox_attributes_max_64kib: { rule: 'the event this change would emit is larger than 64 KiB' },
  progress_events_names_work: {
    rule: 'a progress event must name the work it is about: give a workstream, a task, or both',
    kind: 'unknown_reference',
  },
  progress_events_task_in_workstream: { rule: "a progress event's task must belong to the workstream it names", kind: 'conflict' },
  workstreams_repo_goal_of_repo: { rule: "a workstream's repo goal must be a goal of the workstream's repo", kind: 'conflict' },
  workstreams_repo_goal_needs_repo: {
    rule: "a workstream's repo goal must be a goal of the workstream's repo (set repo_id too)",
    kind: 'conflict',
  },
};

// Data exceptions (class 22) a caller's values can cause. Others of the class (division by
// zero, say) are bugs in our SQL and stay unexpected errors, logged with their stack.
const badValueCodes = new Set(['22001', '22003', '22004', '22007', '22008', '22009', '22015', '22021', '22P02', '22P05']);

interface PgError {
  code: string;
  message: string;
  constraint?: string;
  column?: string;
  detail?: string;
}

// An error the server sent carries a severity; a socket error such as EPIPE only a code.
function isPgError(err: unknown): err is PgError {
  const e = err as PgError & { severity?: unknown };
  return typeof e === 'object' && e !== null && typeof e.severity === 'string' && typeof e.code === 'string';
}

// "Key (topic_id)=(99) is not present in table "topics"." → topic_id 99
function missingReference(err: PgError): OperationError {
  const m = /Key \((\w+)\)=\(([^)]*)\) is not present/.exec(err.detail ?? '');
  return m ? unknownReference(m[1]!, m[2]) : new OperationError('unknown_reference', 'a referenced row does not exist');
}

function fromPg(err: PgError): OperationError | undefined {
  const known = err.constraint ? constraintRules[err.constraint] : undefined;
  if (known?.kind !== undefined) return new OperationError(known.kind, known.rule);
  const rule = known?.rule;
  switch (err.code) {
    case 'SH001': // illegal status transition (sql/120_transition_rules.sql)
    case 'SH002': // append-only table
    case 'SH005': // reference rule (sql/125_reference_rules.sql)
      return conflict(err.message);
    case 'SH004':
      return new OperationError('not_found', err.message);
    case '23505':
      return conflict(rule ?? 'a row with these values already exists');
    case '23503':
      return missingReference(err);
    case '23514':
      return invalid(rule ?? `a value breaks the rule ${err.constraint ?? ''}`.trim());
    case '23502':
      return invalid(`${err.column ?? 'a required field'} is required`);
    case '22001':
      return invalid('a value is too long');
    case '22021': // character_not_in_repertoire: a NUL byte, or text the database encoding cannot hold
    case '22P05': // untranslatable_character
      return invalid('a value contains a character the database cannot store');
    case '57014':
      return unavailable('the database took too long to answer');
    case '40001':
    case '40P01':
      return unavailable('a concurrent change conflicted; retry the request');
    case '42P01': // undefined_table
    case '42883': // undefined_function, e.g. statehub.authenticate_token before migration 0004
    case '3F000': // invalid_schema_name
      return unavailable('the database is not migrated');
  }
  if (badValueCodes.has(err.code)) return invalid('a value has the wrong format');
  // Connection, resources, operator intervention, authorization and a missing database: the
  // server side is not usable right now, which the caller cannot fix by changing the input.
  if (/^(08|53|57P|28)/.test(err.code) || err.code === '3D000') return unavailable();
  return undefined;
}

// Socket-level failures node-postgres passes on with a Node.js error code.
const connectionErrorCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE',
]);
// Failures node-postgres raises itself, without any code: the connection ended under a query
// ("Connection terminated unexpectedly"), a connect timed out, or a client broke earlier.
const connectionErrorMessages = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed)/;

/** Whether err means the database could not be reached or the connection broke. */
function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e !== 'object' || e === null) return false;
  if (typeof e.code === 'string' && connectionErrorCodes.has(e.code)) return true;
  return typeof e.message === 'string' && connectionErrorMessages.test(e.message);
}

/**
 * Per-field messages of a zod failure; `whole` names the input itself. With `unknown`, each
 * unknown field is named with that message rather than in one issue about the whole.
 */
export function fieldErrors(err: z.ZodError, whole: string, unknown?: string): FieldError[] {
  return err.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' && unknown !== undefined
      ? i.keys.map((k) => ({ field: [...i.path, k].join('.'), message: unknown }))
      : [{ field: i.path.join('.') || whole, message: i.message }],
  );
}

/** The OperationError err means, or undefined when it is a bug (to be logged with its stack). */
export function toOperationError(err: unknown): OperationError | undefined {
  if (err instanceof OperationError) return err;
  const fromDatabase = isPgError(err) ? fromPg(err) : undefined;
  if (fromDatabase) return fromDatabase;
  if (isConnectionError(err)) return unavailable();
  return undefined;
}

/**
 * Why the database cannot be used, in a few words an operator can act on (for /readyz and the
 * start-up log line). Never the host, user or password.
 */
export function databaseProblem(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  switch (typeof e === 'object' && e !== null ? e.code : undefined) {
    case 'ECONNREFUSED':
      return 'the database refused the connection (is it running?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the database host name does not resolve';
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'the database host cannot be reached';
    case '28P01':
    case '28000':
      return 'the database refused the credentials';
    case '3D000':
      return 'the database does not exist';
    case '42P01':
    case '42883':
    case '3F000':
      return 'the database is not migrated (run statehub migrate)';
    case '57P03':
      return 'the database is starting up';
  }
  if (isConnectionError(err)) return 'the connection to the database failed or timed out';
  return 'the database does not answer';
}
