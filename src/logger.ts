// One winston JSON logger per process. Never log query parameters, URLs with passwords or tokens.
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(level: string, defaultMeta: Record<string, unknown> = {}): Logger {
  return winston.createLogger({
    level,
    defaultMeta,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

/** A connection URL with its password replaced, safe to log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}

/**
 * A NATS server list (comma-separated URLs) without any user:password or token part, safe to
 * log: a token sits where a URL's user does, so the whole userinfo goes.
 */
export function redactServers(urls: string): string {
  return urls.replace(/\/\/[^@/]*@/g, '//***@');
}
