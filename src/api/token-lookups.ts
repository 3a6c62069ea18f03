// Token lookups as the API makes them: each answer is reused for a few seconds, concurrent
// requests with one token share a lookup, and only a few run at once, so that a flood of
// made-up tokens cannot take the connection pool from requests whose tokens are known.
import type { KnownToken } from '../tokens.ts';
import { HttpError } from './errors.ts';

/** Lookups that may use a database connection at the same time. */
const AT_ONCE = 4;
/** Lookups that may wait for one; past this a request is told to retry (503). */
const WAITING = 1_000;
/** Answers remembered: known tokens, and (more of them, so they cannot push known ones out) unknown ones. */
const KNOWN_ENTRIES = 1_000;
const UNKNOWN_ENTRIES = 10_000;

type Find = (secretSha256: Buffer) => Promise<KnownToken | undefined>;

/** A Map that forgets its oldest entry beyond `max`. */
class Remembered<V> {
  private readonly entries = new Map<string, { at: number; value: V }>();
  constructor(private readonly max: number) {}

  get(key: string, now: number, ttlMs: number): { value: V } | undefined {
    const e = this.entries.get(key);
    if (e && now - e.at < ttlMs) return e;
    if (e) this.entries.delete(key);
    return undefined;
  }

  set(key: string, at: number, value: V): void {
    this.entries.delete(key);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { at, value });
  }
}

export class TokenLookups {
  private readonly known = new Remembered<KnownToken>(KNOWN_ENTRIES);
  // A secret is random, so one looked up before its token was made cannot be a real client's.
  private readonly unknown = new Remembered<undefined>(UNKNOWN_ENTRIES);
  private readonly pending = new Map<string, Promise<KnownToken | undefined>>();
  private running = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    private readonly find: Find,
    /** How long an answer is reused; a revocation reaches this process within it. */
    private readonly ttlMs: number,
  ) {}

  /** The token whose secret hashes to this, or undefined when none does. */
  get(secretSha256: Buffer): Promise<KnownToken | undefined> {
    const key = secretSha256.toString('hex');
    const now = performance.now();
    const remembered = this.known.get(key, now, this.ttlMs) ?? this.unknown.get(key, now, this.ttlMs);
    if (remembered) return Promise.resolve(remembered.value);
    let lookup = this.pending.get(key);
    if (!lookup) {
      // Settled only after its bookkeeping, so a request that follows finds the answer kept, or,
      // after a database error (never kept), asks again.
      lookup = this.limited(() => this.find(secretSha256)).then(
        (token) => {
          this.pending.delete(key);
          if (token) this.known.set(key, now, token);
          else this.unknown.set(key, now, undefined);
          return token;
        },
        (err: unknown) => {
          this.pending.delete(key);
          throw err;
        },
      );
      this.pending.set(key, lookup);
    }
    return lookup;
  }

  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= AT_ONCE) {
      if (this.queue.length >= WAITING) throw new HttpError(503, 'Service Unavailable', 'too many token checks at once; retry');
      await new Promise<void>((resolve) => this.queue.push(resolve));
    }
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}
