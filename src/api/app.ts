// makeApp builds the Express application from its dependencies; src/cli/commands/api.ts
// listens. Nothing here knows about events: capture happens in the database.
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { errorHandler, HttpError } from './errors.ts';
import { Api, openApiDocument } from './route.ts';
import { decisionRoutes } from './routes/decisions.ts';
import { domainGoalRoutes } from './routes/domain-goals.ts';
import { domainRoutes } from './routes/domains.ts';
import { healthRoutes } from './routes/health.ts';
import { progressEventRoutes } from './routes/progress-events.ts';
import { readModelRoutes } from './routes/read-models.ts';
import { repoGoalRoutes } from './routes/repo-goals.ts';
import { repoRoutes } from './routes/repos.ts';
import { taskRoutes } from './routes/tasks.ts';
import { topicRoutes } from './routes/topics.ts';
import { workstreamRoutes } from './routes/workstreams.ts';

export interface AppDeps {
  db: Db;
  log: Logger;
  version?: string;
}

const requestIdPattern = /^[\w.:-]{1,100}$/;

function requestLog(log: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    const given = req.get('x-request-id');
    const requestId = given && requestIdPattern.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => {
      log.info('request', {
        requestId,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
    });
    next();
  };
}

/**
 * JSON is UTF-8 (RFC 8259). The parser would replace invalid bytes with U+FFFD and store the
 * damage silently; refuse them instead. Thrown here, an HttpError keeps its status.
 */
function requireUtf8(_req: Request, _res: Response, body: Buffer, encoding: string): void {
  if (encoding.toLowerCase() !== 'utf-8') throw new HttpError(415, 'Unsupported Media Type', 'send the body as UTF-8 JSON');
  if (!isUtf8(body)) throw new HttpError(400, 'Bad Request', 'the body is not valid UTF-8');
}

/** A request with a body must say it is JSON; an empty POST (e.g. /activate) is fine. */
function requireJson(req: Request, _res: Response, next: NextFunction) {
  const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? 0) > 0;
  if (hasBody && !req.is('application/json')) {
    next(new HttpError(415, 'Unsupported Media Type', 'send the body as application/json'));
    return;
  }
  next();
}

export function makeApp({ db, log, version = '0.1.0' }: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(requestLog(log));

  app.use(requireJson);
  app.use(express.json({ limit: '1mb', strict: true, verify: requireUtf8 }));

  const api = new Api(db);
  healthRoutes(api);
  domainRoutes(api);
  domainGoalRoutes(api);
  repoRoutes(api);
  repoGoalRoutes(api);
  topicRoutes(api);
  workstreamRoutes(api);
  taskRoutes(api);
  decisionRoutes(api);
  progressEventRoutes(api);
  readModelRoutes(api);
  let openapi: unknown;
  api.add({ method: 'get', path: '/openapi.json', summary: 'This API as an OpenAPI 3.1 document', tag: 'service', anyQuery: true }, async () =>
    (openapi ??= openApiDocument(api.specs, { title: 'state-hub', version })),
  );
  api.refuseOtherMethods();
  app.use(api.router);

  app.use((req, _res, next) => next(new HttpError(404, 'Not Found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(log));
  return app;
}
