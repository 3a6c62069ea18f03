// Every error leaves the API as application/problem+json (RFC 9457): the operations' errors
// (src/operations/errors.ts) by their kind, the HTTP layer's own (auth, body, methods) as they
// are. Responses never carry SQL text or stack traces.
import type { ErrorRequestHandler, Response } from 'express';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import { fieldErrors, toOperationError, type ErrorKind, type FieldError, type OperationError } from '../operations/errors.ts';

export type { FieldError };

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

const statusOf: Record<ErrorKind, [number, string]> = {
  not_found: [404, 'Not Found'],
  conflict: [409, 'Conflict'],
  invalid: [400, 'Bad Request'],
  unknown_reference: [422, 'Unprocessable Content'],
  too_large: [422, 'Unprocessable Content'],
  unavailable: [503, 'Service Unavailable'],
};

function fromOperation(err: OperationError): HttpError {
  const [status, title] = statusOf[err.kind];
  return new HttpError(status, title, err.message, err.fields);
}

/** Turns any error into an HttpError; undefined means a bug (500). */
export function toHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof z.ZodError) return new HttpError(400, 'Bad Request', 'the request has invalid fields', fieldErrors(err, '(body)'));
  // The router could not percent-decode a path segment (e.g. /tasks/%ZZ).
  if (err instanceof URIError) return new HttpError(400, 'Bad Request', 'the path is not valid percent-encoded UTF-8');
  // body-parser's errors carry a `type`; read first, as some also carry a socket error's code
  // (a client that hung up mid-body: ECONNABORTED) that is no fault of the database's.
  const e = err as { type?: string; message?: string; expose?: boolean; status?: number };
  switch (e.type) {
    case 'entity.parse.failed':
      return new HttpError(400, 'Bad Request', 'the body is not valid JSON');
    case 'entity.too.large':
      return new HttpError(413, 'Content Too Large', 'the body is larger than 1 MiB');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'Unsupported Media Type', e.message);
    case 'request.aborted':
      return new HttpError(400, 'Bad Request', 'the client closed the connection before the body was complete');
    case 'request.size.invalid':
      return new HttpError(400, 'Bad Request', 'the body is not as long as its Content-Length says');
  }
  const fromOperations = toOperationError(err);
  if (fromOperations) return fromOperation(fromOperations);
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
