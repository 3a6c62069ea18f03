// One winston JSON logger per process. Never log query parameters, URLs with passwords or tokens.
import winston from 'winston';

export type Logger = winston.Logger;

/**
 * Errors and warnings go to stderr, the rest to stdout; with `allToStderr` every line goes to
 * stderr, for a process whose stdout carries a protocol (`statehub mcp`).
 */
export function createLogger(level: string, defaultMeta: Record<string, unknown> = {}, options: { allToStderr?: boolean } = {}): Logger {
  const stderrLevels = options.allToStderr ? Object.keys(winston.config.npm.levels) : ['error', 'warn'];
  return winston.createLogger({
    level,
    defaultMeta,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels })],
  });
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

/** Query parameters that carry a password (libpq's and node-postgres' `password`, `sslpassword`). */
const SECRET_PARAMS = ['password', 'sslpassword'];

/** A connection URL with its password replaced, in the userinfo and in a query parameter, safe to log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const name of SECRET_PARAMS) if (u.searchParams.has(name)) u.searchParams.set(name, '***');
    // URLSearchParams encodes the asterisks; keep the redaction readable.
    return u.toString().replace(/=%2A%2A%2A(?=&|#|$)/g, '=***');
  } catch {
    return '<unparseable url>';
  }
}

/**
 * A NATS server list (comma-separated URLs) without any user:password or token part, safe to
 * log: a token sits where a URL's user does, so the whole userinfo goes, up to the last `@` of
 * each URL (a password may hold `@` or `/`).
 */
export function redactServers(urls: string): string {
  return urls
    .split(',')
    .map((u) => u.replace(/^(\s*(?:[a-z][a-z0-9+.-]*:\/\/)?).*@/is, '$1***@'))
    .join(',');
}
