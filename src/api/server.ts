// Listens with the app from makeApp; used by `statehub api` and `statehub start`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.ts';
import { createDb, type Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { isLoopbackHost } from '../net.ts';
import { defaultAccess, type AccessSettings } from './access.ts';
import type { Settings } from '../operations/operation.ts';
import { makeApp } from './app.ts';
import { databaseNotReady } from './routes/health.ts';

/** The API's pool: PG_POOL_MAX connections, each statement cancelled after API_STATEMENT_TIMEOUT. */
export function createApiDb(config: Config, connectionString: string, log: Logger): Db {
  return createDb({ connectionString, max: config.PG_POOL_MAX, applicationName: 'statehub-api', statementTimeoutMs: config.API_STATEMENT_TIMEOUT }, log);
}

export interface RunningApi {
  server: Server;
  port: number;
  /** Stops accepting connections and waits for in-flight requests; safe to call twice. */
  close(): Promise<void>;
}

export interface ListenOptions {
  /** A client must have sent all request headers within this time (408 otherwise). */
  headersTimeoutMs?: number;
  /** ...and the whole request within this time. */
  requestTimeoutMs?: number;
  /** Client connections open at once (API_MAX_CONNECTIONS); default 1000. */
  maxConnections?: number;
  /** Default: tokens unless host is a loopback address (as with API_AUTH unset), no origins or extra hosts. */
  access?: AccessSettings;
  /** What operations read from the configuration (WORKPLAN_ROOTS); default: none. */
  settings?: Settings;
}

export async function listenApi(db: Db, log: Logger, host: string, port: number, options: ListenOptions = {}): Promise<RunningApi> {
  const access = options.access ?? defaultAccess(host);
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  // Slow clients must not hold a connection forever. Node checks these timeouts only every
  // connectionsCheckingInterval (30 s by default), so a 10 s limit fired after up to 40 s.
  const server = createServer(
    {
      headersTimeout,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(headersTimeout / 4))),
    },
    makeApp({ db, log, access, ...(options.settings ? { settings: options.settings } : {}) }),
  );
  server.maxConnections = options.maxConnections ?? 1000;
  server.listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const bound = (server.address() as AddressInfo).port;
  log.info('api listening', { url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`, auth: access.auth });
  if (access.auth === 'none' && !isLoopbackHost(host)) {
    log.warn(
      `API_AUTH=none on HOST=${host}: anyone who can reach this port may change the hub; ` +
        'only loopback host names and API_ALLOWED_HOSTS are served. Prefer API_AUTH=token (statehub token create).',
    );
  }
  // The API serves without its database (answering 503), but an operator should hear at once.
  void databaseNotReady(db).then((problem) => {
    if (problem) log.error(`database not ready: ${problem}; serving anyway, /readyz answers 503 until it is`);
  });
  let closing: Promise<void> | undefined;
  return {
    server,
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
