// Request bodies: JSON in UTF-8 only. A state-changing request must say it is JSON, or carry
// no body at all; a browser's cross-site form (urlencoded, multipart, text/plain) never passes.
import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type Response } from 'express';
import { HttpError } from './errors.ts';

const readOnlyMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** 415 for a state-changing request with a content type other than JSON, or a body without one. Routes run it after authorization. */
export function requireJsonContent(req: Request, _res: Response, next: NextFunction): void {
  if (readOnlyMethods.has(req.method)) return next();
  const type = req.get('content-type');
  const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? 0) > 0;
  if (type === undefined ? hasBody : !req.is('application/json')) {
    return next(new HttpError(415, 'Unsupported Media Type', 'send the body as application/json (or no body and no content type)'));
  }
  next();
}

/**
 * JSON is UTF-8 (RFC 8259). The parser would replace invalid bytes with U+FFFD and store the
 * damage silently; refuse them instead. Thrown here, an HttpError keeps its status.
 */
function requireUtf8(_req: Request, _res: Response, body: Buffer, encoding: string): void {
  if (encoding.toLowerCase() !== 'utf-8') throw new HttpError(415, 'Unsupported Media Type', 'send the body as UTF-8 JSON');
  if (!isUtf8(body)) throw new HttpError(400, 'Bad Request', 'the body is not valid UTF-8');
}

/** The largest body the API reads, and the longest message `statehub mcp` reads on stdin. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Parses a JSON body into req.body; routes run it after authorization. */
export const jsonBody = express.json({ limit: MAX_BODY_BYTES, strict: true, verify: requireUtf8 });
