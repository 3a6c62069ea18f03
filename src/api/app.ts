// makeApp builds the Express application from its dependencies; src/cli/commands/api.ts
// listens. Nothing here knows about events: capture happens in the database.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { mcpBodyErrors, mcpHandler } from '../mcp/http.ts';
import { noSettings, type Settings } from '../operations/operation.ts';
import { VERSION } from '../version.ts';
import { requireAllowedOrigin, requireServedHost, type AccessSettings } from './access.ts';
import { Authenticator } from './auth.ts';
import { errorHandler, HttpError } from './errors.ts';
import { openApiDocument } from './openapi.ts';
import { Api } from './route.ts';
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
  /** Tokens or none, and which browser pages and host names are served (access.ts). */
  access: AccessSettings;
  /** What operations read from the configuration (WORKPLAN_ROOTS); default: none, sync is off. */
  settings?: Settings;
  version?: string;
}

const requestIdPattern = /^[\w.:-]{1,100}$/;

/**
 * Requests whose target Express's router cannot parse (an absolute URL with a bad host, such as
 * `GET http://[zz/`). The router would answer them itself, with an HTML 404 and before any
 * middleware ran; they are sent through again as `/`, to be refused and logged below.
 */
const unparsableTargets = new WeakSet<IncomingMessage>();

function requestLog(log: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    const given = req.get('x-request-id');
    const requestId = given && requestIdPattern.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    // Every answer is JSON; a browser must not guess otherwise.
    res.setHeader('x-content-type-options', 'nosniff');
    // On close, not finish: a client that hangs up before the answer is sent is logged too.
    res.on('close', () => {
      log.info('request', {
        requestId,
        method: req.method,
        path: unparsableTargets.has(req) ? '(not a valid URL)' : req.path,
        // The name of the token that authenticated the request (auth.ts), never its secret.
        ...(res.locals.actor ? { actor: res.locals.actor } : {}),
        status: res.statusCode,
        ...(res.writableFinished ? {} : { aborted: true }),
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
    });
    if (unparsableTargets.has(req)) return next(new HttpError(400, 'Bad Request', 'the request target is not a valid URL'));
    next();
  };
}

export function makeApp({ db, log, access, settings = noSettings, version = VERSION }: AppDeps): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(requestLog(log));

  // Before anything else looks at a request: is it addressed to us, and by whom.
  if (access.auth === 'none') app.use(requireServedHost(access.allowedHosts));
  app.use(requireAllowedOrigin(access.allowedOrigins));

  const auth = new Authenticator(db, access.auth, access.tokenCacheMs);
  const api = new Api(db, auth, settings);
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
  // MCP for agents (docs/mcp.md), behind the same Host and Origin guards as every route: a read
  // token gets a server of read tools, a write token (or API_AUTH=none) all of them.
  api.mount(
    {
      method: 'post', access: 'read', decidesWrites: true, path: '/mcp', tag: 'service',
      summary: 'The MCP endpoint (Streamable HTTP, stateless, JSON-RPC): tools for agents, see docs/mcp.md',
    },
    mcpHandler(db, { log, settings }, (res) => res.locals.scope === 'write'),
    mcpBodyErrors,
  );
  let openapi: unknown;
  api.add({ method: 'get', path: '/openapi.json', summary: 'This API as an OpenAPI 3.1 document', tag: 'service', access: 'read', anyQuery: true }, async () =>
    (openapi ??= openApiDocument(api.specs, { title: 'state-hub', version })),
  );
  api.refuseOtherMethods();
  app.use(api.router);

  // An unknown path is news only to a caller who may read.
  app.use(auth.require('read'), (req, _res, next) => next(new HttpError(404, 'Not Found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(log));
  // The last middleware answers every request, so the router calls `next` only when it could
  // not parse the target and ran none.
  const handle = app as unknown as (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
  return (req, res) =>
    handle(req, res, () => {
      unparsableTargets.add(req);
      req.url = '/';
      app(req, res);
    });
}
