// What the pump's operating tools share: a stderr logger, and the database and NATS connections
// opened from Config. Tool results go to stdout and nothing else does, so `--json` and
// `events tail` output can be piped.
import winston from 'winston';
import type { JetStreamClient } from 'nats';
import { ConfigError, loadConfig, requireDatabaseUrl, type Config } from '../../config.ts';
import { createDb, type Db } from '../../db.ts';
import type { Logger } from '../../logger.ts';
import { connectNats, NatsNotConfiguredError, type NatsFiles } from '../../pump/nats.ts';

/** Like the shared logger, but every level goes to stderr: stdout carries the tool's result. */
export function toolLogger(level: string, component: string): Logger {
  const levels = ['error', 'warn', 'info', 'http', 'verbose', 'debug'];
  return winston.createLogger({
    level,
    defaultMeta: { component },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: levels })],
  });
}

export interface ToolContext {
  config: Config;
  log: Logger;
  db: Db;
}

/** Loads Config, opens a small pool, runs fn and always closes the pool. */
export async function withDatabase<T>(env: NodeJS.ProcessEnv, component: string, fn: (ctx: ToolContext) => Promise<T>): Promise<T> {
  const config = loadConfig(env);
  const log = toolLogger(config.LOG_LEVEL, component);
  const db = createDb({ connectionString: requireDatabaseUrl(config), max: 2, applicationName: `statehub ${component}` }, log);
  try {
    return await fn({ config, log, db });
  } finally {
    await db.close();
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

/** "3d 4h", "12m 5s", "800ms": an age for people. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n}${u}`)
    .join(' ');
}
