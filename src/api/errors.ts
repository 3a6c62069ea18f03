// Every error leaves the API as application/problem+json (RFC 9457). This is the one place
// that maps PostgreSQL SQLSTATEs to HTTP; responses never carry SQL text or stack traces.
import type { ErrorRequestHandler } from 'express';
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
  ) {
    super(detail ?? title);
  }
}

export const notFound = (what: string) => new HttpError(404, 'Not Found', `${what} does not exist`);

/** Constraint names the schema declares, and the rule each one states. */
const constraintRules: Record<string, string> = {
  domain_goals_one_active_per_domain:
    'a domain has at most one active goal; POST /domain-goals/:id/activate supersedes the current one',
  domains_slug_key: 'a domain with this slug already exists',
  repos_slug_key: 'a repo with this slug already exists',
  topics_slug_key: 'a topic with this slug already exists',
  workstreams_slug_key: 'a workstream with this slug already exists',
  decisions_resolved_has_decider: 'a resolved decision needs decided_by and rationale',
  domain_goals_superseded_by_iff_superseded: 'superseded_by is set exactly when a goal is superseded',
  outbox_attributes_max_64kib: 'the event this change would emit is larger than 64 KiB',
};

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
  const rule = err.constraint ? constraintRules[err.constraint] : undefined;
  switch (err.code) {
    case 'SH001': // illegal status transition (sql/120_transition_rules.sql)
    case 'SH002': // append-only table
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
    case '22P02':
    case '22003':
    case '22007':
    case '22008':
      return new HttpError(400, 'Bad Request', 'a value has the wrong format');
    case '57014':
      return new HttpError(503, 'Service Unavailable', 'the database took too long to answer');
    case '40001':
    case '40P01':
      return new HttpError(503, 'Service Unavailable', 'a concurrent change conflicted; retry the request');
  }
  if (err.code.startsWith('08') || err.code.startsWith('53') || err.code.startsWith('57P')) {
    return new HttpError(503, 'Service Unavailable', 'the database is unavailable');
  }
  return undefined;
}

const connectionErrorCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE']);

/** Turns any error into an HttpError; undefined means a bug (500). */
export function toHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof z.ZodError) {
    const errors = err.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
    return new HttpError(400, 'Bad Request', 'the request has invalid fields', errors);
  }
  const fromDatabase = isPgError(err) ? fromPg(err) : undefined;
  if (fromDatabase) return fromDatabase;
  const e = err as { type?: string; code?: string; message?: string; expose?: boolean; status?: number };
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
  if (e.message === 'timeout exceeded when trying to connect' || (e.code && connectionErrorCodes.has(e.code))) {
    return new HttpError(503, 'Service Unavailable', 'the database is unavailable');
  }
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

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const http = toHttpError(err) ?? new HttpError(500, 'Internal Server Error', 'an unexpected error occurred');
    if (http.status >= 500) {
      log.error('request failed', { requestId: res.locals.requestId, path: req.path, error: (err as Error).message, stack: (err as Error).stack });
    }
    res.status(http.status).type('application/problem+json').json(problemOf(http));
  };
}
