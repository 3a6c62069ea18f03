// Capped exponential backoff with full jitter, and a logger that speaks once per state change.
import type { Logger } from '../logger.ts';

export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs: number,
    private readonly capMs: number,
  ) {}

  /** The next delay: random in [half, full] of min(cap, base * 2^attempt). */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Remembers whether a dependency is healthy and logs only on transitions, so an outage of an
 * hour is two log lines, not thousands.
 */
export class HealthLog {
  private healthy = true;
  constructor(
    private readonly log: Logger,
    private readonly what: string,
  ) {}

  failing(err: unknown, meta: Record<string, unknown> = {}): void {
    if (!this.healthy) return;
    this.healthy = false;
    this.log.warn(`${this.what} failing; retrying with backoff`, { ...meta, error: describe(err) });
  }

  ok(meta: Record<string, unknown> = {}): void {
    if (this.healthy) return;
    this.healthy = true;
    this.log.info(`${this.what} recovered`, meta);
  }
}

/** One line for an error: its name, code when it has one, and message. */
export function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return `${err.name}${code ? ` ${String(code)}` : ''}: ${err.message}`;
}

/** A sleep that ends early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
