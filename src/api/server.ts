// Listens with the app from makeApp; used by `statehub api` and `statehub start`.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { makeApp } from './app.ts';

export interface RunningApi {
  server: Server;
  port: number;
  /** Stops accepting connections and waits for in-flight requests; safe to call twice. */
  close(): Promise<void>;
}

export async function listenApi(db: Db, log: Logger, host: string, port: number): Promise<RunningApi> {
  const server = makeApp({ db, log }).listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  // Slow clients must not hold a connection forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const bound = (server.address() as AddressInfo).port;
  log.info('api listening', { url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` });
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
