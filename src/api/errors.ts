// Every error leaves the API as application/problem+json (RFC 9457). This is the one place
// that maps PostgreSQL SQLSTATEs to HTTP; responses never carry SQL text or stack traces.
import type { ErrorRequestHandler, Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../logger.ts';

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
    /** Sent with the problem, e.g. WWW-Authenticate. */
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? title);
  }
}

/** Seconds a client should wait before retrying a 503: long enough for a database restart or failover. */
const RETRY_AFTER_SECONDS = 5;

const unavailable = (detail = 'the database is unavailable') => new HttpError(503, 'Service Unavailable', detail);

export const notFound = (what: string) => new HttpError(404, 'Not Found', `${what} does not exist`);

/**
 * Constraint names the schema declares, the rule each one states, and the status a breach gets
 * when it is not the one its SQLSTATE implies. The reference rules of migrations/0003 are
 * conflicts with data already in the hub (409), whichever side of the reference changed.
 */
const constraintRules: Record<string, { rule: string; status?: number }> = {
  domain_goals_one_active_per_domain: {
    rule: 'a domain has at most one active goal; POST /domain-goals/:id/activate supersedes the current one',
  },
  domains_slug_key: { rule: 'a domain with this slug already exists' },
  repos_slug_key: { rule: 'a repo with this slug already exists' },
  topics_slug_key: { rule: 'a topic with this slug already exists' },
  workstreams_slug_key: { rule: 'a workstream with this slug already exists' },
  decisions_resolved_has_decider: { rule: 'a resolved decision needs decided_by and rationale' },
  domain_goals_superseded_by_iff_superseded: { rule: 'superseded_by is set exactly when a goal is superseded' },
  outbox_attributes_max_64kib: { rule: 'the event this change would emit is larger than 64 KiB' },
  progress_events_task_in_workstream: { rule: "a progress event's task must belong to the workstream it names", status: 409 },
  workstreams_repo_goal_of_repo: { rule: "a workstream's repo goal must be a goal of the workstream's repo", status: 409 },
  workstreams_repo_goal_needs_repo: {
    rule: "a workstream's repo goal must be a goal of the workstream's repo (set repo_id too)",
    status: 409,
  },
};

// Data exceptions (class 22) a request's values can cause. Others of the class (division by
// zero, say) are bugs in our SQL and stay 500s, logged with their stack.
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

// "Key (topic_id)=(99) is not present in table "topics"." → "topic_id 99 does not exist"
function foreignKeyDetail(err: PgError): string {
  const m = /Key \((\w+)\)=\(([^)]*)\) is not present/.exec(err.detail ?? '');
  return m ? `${m[1]} ${m[2]} does not exist` : 'a referenced row does not exist';
}

function fromPg(err: PgError): HttpError | undefined {
  const known = err.constraint ? constraintRules[err.constraint] : undefined;
  if (known?.status === 409) return new HttpError(409, 'Conflict', known.rule);
  const rule = known?.rule;
  switch (err.code) {
    case 'SH001': // illegal status transition (sql/120_transition_rules.sql)
    case 'SH002': // append-only table
    case 'SH005': // reference rule (sql/125_reference_rules.sql)
      return new HttpError(409, 'Conflict', err.message);
    case 'SH004':
      return new HttpError(404, 'Not Found', err.message);
    case '23505':
      return new HttpError(409, 'Conflict', rule ?? 'a row with these values already exists');
    case '23503':
      return new HttpError(422, 'Unprocessable Content', foreignKeyDetail(err));
    case '23514':
      return new HttpError(400, 'Bad Request', rule ?? `a value breaks the rule ${err.constraint ?? ''}`.trim());
    case '23502':
      return new HttpError(400, 'Bad Request', `${err.column ?? 'a required field'} is required`);
    case '22001':
      return new HttpError(400, 'Bad Request', 'a value is too long');
    case '22021': // character_not_in_repertoire: a NUL byte, or text the database encoding cannot hold
    case '22P05': // untranslatable_character
      return new HttpError(400, 'Bad Request', 'a value contains a character the database cannot store');
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
  if (badValueCodes.has(err.code)) return new HttpError(400, 'Bad Request', 'a value has the wrong format');
  // Connection, resources, operator intervention, authorization and a missing database: the
  // server side is not usable right now, which the client cannot fix by changing the request.
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

/** Turns any error into an HttpError; undefined means a bug (500). */
export function toHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof z.ZodError) {
    const errors = err.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
    return new HttpError(400, 'Bad Request', 'the request has invalid fields', errors);
  }
  // The router could not percent-decode a path segment (e.g. /tasks/%ZZ).
  if (err instanceof URIError) return new HttpError(400, 'Bad Request', 'the path is not valid percent-encoded UTF-8');
  const fromDatabase = isPgError(err) ? fromPg(err) : undefined;
  if (fromDatabase) return fromDatabase;
  const e = err as { type?: string; message?: string; expose?: boolean; status?: number };
  // body-parser's errors carry a `type`.
  switch (e.type) {
    case 'entity.parse.failed':
      return new HttpError(400, 'Bad Request', 'the body is not valid JSON');
    case 'entity.too.large':
      return new HttpError(413, 'Content Too Large', 'the body is larger than 1 MiB');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'Unsupported Media Type', e.message);
  }
  if (isConnectionError(err)) return unavailable();
  if (e.expose && typeof e.status === 'number') return new HttpError(e.status, e.message ?? 'request refused');
  return undefined;
}

export function problemOf(err: HttpError): Problem {
  return {
    type: 'about:blank',
    title: err.title,
    status: err.status,
    ...(err.detail ? { detail: err.detail } : {}),
    ...(err.errors ? { errors: err.errors } : {}),
  };
}

/** Sends err as problem+json; a 503 tells the client when to try again. */
function sendProblem(res: Response, err: HttpError): void {
  if (err.status === 503) res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  for (const [name, value] of Object.entries(err.headers ?? {})) res.setHeader(name, value);
  res.status(err.status).type('application/problem+json').json(problemOf(err));
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const http = toHttpError(err) ?? new HttpError(500, 'Internal Server Error', 'an unexpected error occurred');
    if (http.status >= 500) {
      log.error('request failed', { requestId: res.locals.requestId, path: req.path, error: (err as Error).message, stack: (err as Error).stack });
    }
    sendProblem(res, http);
  };
}
