// NATS connection options built from Config, shared by the pump and its CLI tools (replay,
// events tail, through withJetStream). The only module that knows how credentials map to nats.js.
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type ConnectionOptions, type JetStreamClient, type NatsConnection } from 'nats';
import { ConfigError, type Config } from '../config.ts';
import { redactServers } from '../logger.ts';

/** NATS_URL is unset: the caller decides whether that is fatal (the pump idles, tools refuse). */
export class NatsNotConfiguredError extends Error {
  override name = 'NatsNotConfiguredError';
}

/** The initial connect failed (server down, auth refused, TLS handshake failed). */
export class NatsConnectError extends Error {
  override name = 'NatsConnectError';
}

/** The contents of the files Config names, read and checked once at start. */
export interface NatsFiles {
  creds?: Uint8Array;
  /** PEM text. */
  tls?: { ca?: string; cert?: string; key?: string };
}

const TLS_FILES = { ca: 'NATS_TLS_CA', cert: 'NATS_TLS_CERT', key: 'NATS_TLS_KEY' } as const;

/**
 * Reads NATS_CREDS_FILE and NATS_TLS_* now: a missing, unreadable or malformed file is bad
 * configuration (ConfigError, exit 2) at start, not a connect attempt retried forever.
 */
export function readNatsFiles(config: Config): NatsFiles {
  const files: NatsFiles = {};
  if (config.NATS_CREDS_FILE) files.creds = readCreds(config.NATS_CREDS_FILE);
  const tls = Object.entries(TLS_FILES).flatMap(([field, key]) => {
    const file = config[key];
    return file ? [[field, readConfiguredFile(key, file).toString('utf8')]] : [];
  });
  if (tls.length > 0) files.tls = Object.fromEntries(tls);
  return files;
}

function readConfiguredFile(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`invalid configuration: ${key}: cannot read ${file}: ${why}`);
  }
}

function readCreds(file: string): Uint8Array {
  const creds = readConfiguredFile('NATS_CREDS_FILE', file);
  try {
    // nats.js parses the file only when a server sends its nonce: sign a test nonce now.
    const { jwt } = credsAuthenticator(creds)('statehub-check') as { jwt?: string };
    if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(jwt ?? '')) throw new Error('its JWT block holds no JWT');
  } catch (err) {
    const why = (err as { code?: string }).code === 'BAD_CREDS' ? 'no JWT and seed blocks found' : (err as Error).message;
    throw new ConfigError(`invalid configuration: NATS_CREDS_FILE: ${file} is not a NATS .creds file (a user JWT and an nkey seed): ${why}`);
  }
  return creds;
}

/** A server URL split into the URL without its userinfo and the credentials it carried. */
interface ServerUrl {
  server: string;
  /** `user:password@`: both; `token@`: user alone. */
  user?: string;
  pass?: string;
}

const decode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/**
 * nats.js neither authenticates with a URL's `user:password@` or `token@` part nor keeps it out
 * of its server list, so it is taken out here and sent as credentials, as the Go client and the
 * nats CLI do with such URLs.
 */
function splitServerUrl(url: string): ServerUrl {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(.*)@([^@]*)$/is.exec(url);
  if (!m) return { server: url };
  const server = m[1]! + m[3]!;
  const [user, ...pass] = m[2]!.split(':');
  return pass.length === 0 ? { server, user: decode(user!) } : { server, user: decode(user!), pass: decode(pass.join(':')) };
}

/** Connection options for Config and its files; reconnects forever, as a daemon must. */
export function natsOptions(config: Config, files: NatsFiles, name = 'statehub'): ConnectionOptions {
  if (!config.NATS_URL) throw new NatsNotConfiguredError('NATS_URL is not set');
  const servers = config.NATS_URL.split(',').map((s) => splitServerUrl(s.trim()));
  const options: ConnectionOptions = {
    servers: servers.map((s) => s.server),
    name,
    // The default (10) closes the connection for good after ~20 s of outage.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    // By default every request builds two stack-trace errors up front in case it fails: a large
    // share of a publisher's CPU (docs/benchmarks.md). Errors still say what failed.
    noAsyncTraces: true,
  };
  // Credentials in NATS_URL (the first URL that has some) unless the variables name them.
  const inUrl = servers.find((s) => s.user !== undefined);
  if (inUrl && !config.NATS_USER && !config.NATS_PASSWORD && !config.NATS_TOKEN) {
    if (inUrl.pass === undefined) options.token = inUrl.user;
    else Object.assign(options, { user: inUrl.user, pass: inUrl.pass });
  }
  if (config.NATS_USER) options.user = config.NATS_USER;
  if (config.NATS_PASSWORD) options.pass = config.NATS_PASSWORD;
  if (config.NATS_TOKEN) options.token = config.NATS_TOKEN;
  if (files.creds) options.authenticator = credsAuthenticator(files.creds);
  if (files.tls) options.tls = { ...files.tls };
  return options;
}

/**
 * Connects to NATS as configured. Throws NatsNotConfiguredError when NATS_URL is unset,
 * ConfigError for a bad credentials or TLS file, and NatsConnectError (with the client's error
 * as cause) when the first connect fails.
 */
export async function connectNats(config: Config, name = 'statehub', files = readNatsFiles(config)): Promise<NatsConnection> {
  const options = natsOptions(config, files, name);
  try {
    return await connect(options);
  } catch (err) {
    throw new NatsConnectError(`cannot connect to NATS at ${redactServers(config.NATS_URL!)}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Connects to NATS as configured, runs fn with JetStream, and always closes the connection.
 * files: read earlier by the caller (readNatsFiles) to fail before other work; read here if not.
 */
export async function withJetStream<T>(config: Config, component: string, fn: (js: JetStreamClient) => Promise<T>, files?: NatsFiles): Promise<T> {
  let nc;
  try {
    nc = await connectNats(config, `statehub ${component}`, files);
  } catch (err) {
    // For a tool, unset NATS_URL is bad configuration (exit 2), not a reason to idle.
    if (err instanceof NatsNotConfiguredError) throw new ConfigError(`invalid configuration: ${component} needs NATS_URL`);
    throw err;
  }
  try {
    return await fn(nc.jetstream());
  } catch (err) {
    throw explainStreamError(err, config.STREAM_NAME);
  } finally {
    await nc.close();
  }
}

/** JetStream's terse answers ("503", "stream not found") as a line an operator can act on. */
function explainStreamError(err: unknown, stream: string): unknown {
  const e = err as { code?: string; api_error?: { err_code?: number } };
  const hint = `check STREAM_NAME; the pump creates the stream on its first start`;
  if (e.code === '404') return new Error(`stream ${stream} not found: ${hint}`, { cause: err });
  if (e.code === '503') return new Error(`no JetStream stream listens on the subject (503): ${hint}`, { cause: err });
  if (e.api_error?.err_code === 10060) {
    return new Error(`the subject is stored by a stream other than ${stream}: ${hint}`, { cause: err });
  }
  return err;
}
