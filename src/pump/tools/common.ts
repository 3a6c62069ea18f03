// What the pump's operating tools share: usage errors (exit 2), a stderr logger, and the
// database and NATS connections opened from Config. Tool results go to stdout and nothing else
// does, so `--json` and `events tail` output can be piped.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import winston from 'winston';
import type { JetStreamClient } from 'nats';
import { ConfigError, loadConfig, requireDatabaseUrl, type Config } from '../../config.ts';
import { parseDuration } from '../../durations.ts';
import { createDb, type Db } from '../../db.ts';
import type { Logger } from '../../logger.ts';
import { connectNats, NatsNotConfiguredError } from '../nats.ts';

/** A bad command line: the CLI prints the message and the usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

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

/** Connects to NATS as configured, runs fn with JetStream, and always closes the connection. */
export async function withJetStream<T>(config: Config, component: string, fn: (js: JetStreamClient) => Promise<T>): Promise<T> {
  let nc;
  try {
    nc = await connectNats(config, `statehub ${component}`);
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

/** A duration such as 30d or 2h in milliseconds, or a UsageError naming the option. */
export function durationArg(option: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`${option} expects a duration such as 30d, 12h or 90m, got "${text}"`);
  return ms;
}

/** A positive whole number (an outbox id), or a UsageError naming the option. */
export function idArg(option: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${option} expects a positive outbox id, got "${text}"`);
  }
  return n;
}

/** `--since` accepts an ISO timestamp or a duration counted back from now. */
export function sinceArg(text: string, now = new Date()): Date {
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(now.getTime() - ms);
  // Date.parse accepts too much ("1", "May"); require an ISO date at least.
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new UsageError(`--since expects an ISO time (2025-01-31T09:00:00Z) or a duration (2h, 30m), got "${text}"`);
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

/** node:util parseArgs, with its complaints (unknown option, missing value) as UsageErrors. */
export function parseToolArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message);
    throw err;
  }
}

/**
 * Runs a command body; a UsageError prints the message and the usage to stderr and gives exit
 * code 2. Other errors reach the dispatcher (ConfigError: 2, anything else: 1).
 */
export async function withUsage(command: string, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`statehub ${command}: ${err.message}\n\n${usage}`);
    return 2;
  }
}
