// What the CLI's operating tools share: a stderr logger, the database opened from Config, and
// ages for people. (Their NATS side, replay and events tail, lives in src/pump: only the pump
// package talks to NATS.) Tool results go to stdout and nothing else does, so `--json` and
// `events tail` output can be piped.
import winston from 'winston';
import { loadConfig, requireDatabaseUrl, type Config } from '../../config.ts';
import { createDb, type Db } from '../../db.ts';
import type { Logger } from '../../logger.ts';

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
