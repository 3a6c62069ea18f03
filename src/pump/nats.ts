// NATS connection options built from Config, shared by the pump and the pump tools
// (outbox replay, events tail). The only module that knows how credentials map to nats.js.
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import type { Config } from '../config.ts';

/** NATS_URL is unset: the caller decides whether that is fatal (the pump idles, tools refuse). */
export class NatsNotConfiguredError extends Error {
  override name = 'NatsNotConfiguredError';
}

/** The initial connect failed (server down, auth refused, TLS files unreadable). */
export class NatsConnectError extends Error {
  override name = 'NatsConnectError';
}

/** Connection options for Config; reconnects forever, as a daemon must. */
export function natsOptions(config: Config, name = 'statehub'): ConnectionOptions {
  if (!config.NATS_URL) throw new NatsNotConfiguredError('NATS_URL is not set');
  const options: ConnectionOptions = {
    servers: config.NATS_URL.split(',').map((s) => s.trim()),
    name,
    // The default (10) closes the connection for good after ~20 s of outage.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
  };
  if (config.NATS_USER) options.user = config.NATS_USER;
  if (config.NATS_PASSWORD) options.pass = config.NATS_PASSWORD;
  if (config.NATS_TOKEN) options.token = config.NATS_TOKEN;
  if (config.NATS_CREDS_FILE) {
    // Read once here so a missing file is a clear startup error, not a reconnect loop.
    options.authenticator = credsAuthenticator(readFileSync(config.NATS_CREDS_FILE));
  }
  if (config.NATS_TLS_CA || config.NATS_TLS_CERT || config.NATS_TLS_KEY) {
    options.tls = {
      ...(config.NATS_TLS_CA ? { caFile: config.NATS_TLS_CA } : {}),
      ...(config.NATS_TLS_CERT ? { certFile: config.NATS_TLS_CERT } : {}),
      ...(config.NATS_TLS_KEY ? { keyFile: config.NATS_TLS_KEY } : {}),
    };
  }
  return options;
}

/**
 * Connects to NATS as configured. Throws NatsNotConfiguredError when NATS_URL is unset and
 * NatsConnectError (with the client's error as cause) when the first connect fails.
 */
export async function connectNats(config: Config, name = 'statehub'): Promise<NatsConnection> {
  let options: ConnectionOptions;
  try {
    options = natsOptions(config, name);
  } catch (err) {
    if (err instanceof NatsNotConfiguredError) throw err;
    throw new NatsConnectError(`cannot prepare NATS credentials: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await connect(options);
  } catch (err) {
    throw new NatsConnectError(`cannot connect to NATS at ${redactServers(config.NATS_URL!)}: ${(err as Error).message}`, { cause: err });
  }
}

/** The server list without any user:password part, safe to log. */
export function redactServers(urls: string): string {
  return urls.replace(/\/\/[^@/]*@/g, '//***@');
}
