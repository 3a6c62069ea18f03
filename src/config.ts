// Configuration is a pure function of the environment: one zod schema, one line per key.
// loadConfig never reads process.env itself, so tests pass whatever record they need.
import path from 'node:path';
import { z } from 'zod';
import { parseDatabaseUrl } from './pg-target.ts';
import { resolveDatabaseUrl } from './pgpass.ts';
import { DUPLICATE_WINDOW_RANGE, durationWithin, POLL_INTERVAL_RANGE, READ_BUDGET_RANGE, RETENTION_RANGE, SHUTDOWN_TIMEOUT_RANGE, STATEMENT_TIMEOUT_RANGE, type DurationRange } from './durations.ts';

const intIn = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalText = z.string().trim().min(1).optional();

const duration = (range: DurationRange) =>
  z.string().transform((text, ctx) => {
    try {
      return durationWithin(text, range);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** One host, or libpq's several (postgres://u@h1:5432,h2:5432/db?target_session_attrs=read-write). */
const postgresUrl = z.string().transform((s, ctx) => {
  try {
    parseDatabaseUrl(s);
    return s;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const natsUrl = z.string().refine(
  (s) => s.split(',').every((u) => /^(nats|tls|ws|wss):\/\/[^\s]+$|^[\w.-]+:\d+$/.test(u.trim())),
  { message: 'expected nats://host:port (comma-separated for a cluster)' },
);

/** A comma-separated list; blanks around items and empty items are dropped. */
const list = <T extends z.ZodType<string, string>>(item: T) =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(item));

/** A browser origin, written as browsers send it (lower case, no default port). */
const origin = z.string().transform((s, ctx) => {
  try {
    const u = new URL(s);
    const bare = u.pathname === '/' && !u.username && !u.password && !/[?#]/.test(s);
    if (/^https?:$/.test(u.protocol) && bare) return u.origin;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: 'expected origins such as https://planner.example.com (scheme, host and port only)' });
  return z.NEVER;
});

const schema = z.object({
  /**
   * PostgreSQL connection URL; several hosts with target_session_attrs follow a failover
   * (docs/ha.md). Unset: `statehub start` boots an embedded PostgreSQL.
   */
  DATABASE_URL: postgresUrl.optional(),
  /** Address the API binds to. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of the API; 0 picks a free one. */
  PORT: intIn(0, 65535).default(8000),
  /** token: every route but /healthz and /readyz needs a bearer token. Unset: none on a loopback HOST, token otherwise. */
  API_AUTH: z.enum(['token', 'none']).optional(),
  /** Browser origins (https://host[:port]) whose pages may call the API; others are refused. */
  API_ALLOWED_ORIGINS: list(origin).default([]),
  /** Host names served without tokens (API_AUTH=none) besides loopback ones. */
  API_ALLOWED_HOSTS: list(z.string().regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'expected host names without port')).default([]),
  /** winston level: error, warn, info, http, verbose, debug. */
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug']).default('info'),
  /** The server cancels any statement of an API request that runs longer (the request gets 503). */
  API_STATEMENT_TIMEOUT: duration(STATEMENT_TIMEOUT_RANGE).default(30_000),
  /** Connections per process in the PostgreSQL pool. */
  PG_POOL_MAX: intIn(1, 200).default(10),
  /**
   * Client connections the API holds open at once; further ones are closed as they arrive, so
   * the process keeps file descriptors for its pool and workplan files (and /healthz answers).
   */
  API_MAX_CONNECTIONS: intIn(1, 100_000).default(1000),
  /**
   * Directories, colon-separated and absolute, inside which the consistency engine may read a
   * repo's workplan files (docs/workplans.md). Unset: sync is refused, saying how to enable it.
   */
  WORKPLAN_ROOTS: z
    .string()
    .transform((s) => s.split(':').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.string().refine((p) => path.isAbsolute(p), 'expected absolute directories separated by ":"')))
    .default([]),
  /**
   * How long a reader thread may take to read and parse one repo's listed workplan files;
   * files not read by then are reported invalid, and no workstream is taken for gone.
   */
  SYNC_READ_BUDGET: duration(READ_BUDGET_RANGE).default(30_000),
  /** Where `statehub start` keeps the embedded PostgreSQL's data. */
  STATEHUB_DATA_DIR: z.string().min(1).default('.statehub'),

  /** NATS server(s). Unset: the pump idles and events wait in the outbox. */
  NATS_URL: natsUrl.optional(),
  NATS_USER: optionalText,
  NATS_PASSWORD: optionalText,
  NATS_TOKEN: optionalText,
  /** Path of a NATS .creds file (JWT + nkey seed). */
  NATS_CREDS_FILE: optionalText,
  NATS_TLS_CA: optionalText,
  NATS_TLS_CERT: optionalText,
  NATS_TLS_KEY: optionalText,
  /** JetStream stream the events go to; created (subjects org.>) when missing. */
  STREAM_NAME: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('ACTIVITY_EVENTS'),
  /**
   * Duplicate window of the stream when the pump creates it, and the least it expects of one that
   * exists (shorter: a warning at start). A pump down, or PostgreSQL recovering, for longer may
   * store the events of its last unrecorded delta twice.
   */
  STREAM_DUPLICATE_WINDOW: duration(DUPLICATE_WINDOW_RANGE).default(86_400_000),
  /**
   * Replicas of the stream when the pump creates it (3 on a production cluster: it survives the
   * loss of one server), and what it expects of one that exists (other: a warning).
   */
  STREAM_REPLICAS: intIn(1, 5).default(1),
  /** The envelope's `publisher` field. */
  EVENT_PUBLISHER: z.string().min(1).default('the-custodian/state-hub'),
  /** Outbox rows the pump reads per batch. */
  PUMP_BATCH_SIZE: intIn(1, 10_000).default(1000),
  /** Publishes awaiting a JetStream ack at once. */
  PUMP_MAX_IN_FLIGHT: intIn(1, 10_000).default(256),
  /**
   * Publish a delta only once this many streaming standbys have flushed the WAL it was read at:
   * no event on the stream that a promoted standby would not have (docs/ha.md). 0: do not wait.
   */
  PUMP_WAIT_FOR_STANDBYS: intIn(0, 16).default(0),
  /** Safety poll of the outbox when no notification arrives. */
  PUMP_POLL_INTERVAL: duration(POLL_INTERVAL_RANGE).default(5000),
  /** How long SIGTERM lets the delta in flight finish and be recorded before giving it up. */
  PUMP_SHUTDOWN_TIMEOUT: duration(SHUTDOWN_TIMEOUT_RANGE).default(10_000),
  /** Port of the pump's /healthz, /readyz and /metrics; 0 picks a free one. */
  PUMP_METRICS_PORT: intIn(0, 65535).default(9464),
  /** Address the pump's metrics endpoint binds to. */
  PUMP_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Bearer token that /metrics and /readyz then require (/healthz stays open). Never logged. */
  PUMP_METRICS_TOKEN: z
    .string()
    .min(16, 'too short to be a secret: use at least 16 characters, e.g. the output of `openssl rand -hex 32`')
    .regex(/^[\x21-\x7E]+$/, 'printable ASCII without spaces only (it travels in an HTTP header)')
    .optional(),
  /** Default age for `statehub outbox prune` (published rows only). */
  OUTBOX_RETENTION: duration(RETENTION_RANGE).default(30 * 86_400_000),
});

export type Config = z.infer<typeof schema>;

/** Every variable loadConfig reads; the README's configuration table must list each one. */
export const CONFIG_KEYS = Object.keys(schema.shape);

/** Thrown for bad configuration; `message` is the one line an operator needs. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the environment record; empty strings count as unset, as they do in systemd env files. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * The database URL, or a ConfigError naming the variable. A `passfile=` parameter (as in the
 * URL `statehub start` prints for its embedded database) is read here, once.
 */
export function requireDatabaseUrl(config: Config): string {
  if (!config.DATABASE_URL) {
    throw new ConfigError('invalid configuration: DATABASE_URL is not set (e.g. postgres://user@127.0.0.1:5432/statehub)');
  }
  try {
    return resolveDatabaseUrl(config.DATABASE_URL);
  } catch (err) {
    throw new ConfigError(`invalid configuration: DATABASE_URL: ${(err as Error).message}`);
  }
}
