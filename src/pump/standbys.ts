// PUMP_WAIT_FOR_STANDBYS: a delta is published only once enough streaming standbys have flushed
// the WAL position it was read at (sql/820_standbys_flushed.sql says why). Until then its events
// wait in the outbox; /readyz and the metrics say how long and why. The cost is latency: a
// standby's flush is reported within a round trip or two of the commit (docs/ha.md, measured).
import type { Queryable } from '../db.ts';
import { sleep } from './backoff.ts';

/** Between two looks at the standbys: short first (a standby is usually a millisecond behind), at most this. */
const POLL_MS = { first: 1, cap: 50 };
/** A wait this long makes the pump not ready, saying why. */
const NOT_READY_AFTER_MS = 2000;

export interface StandbyCount {
  streaming: number;
  confirmed: number;
  hidden: number;
}

export class StandbyGate {
  /** Since when a delta has waited, and what the standbys said last; undefined while none waits. */
  private waiting: { since: number; last?: StandbyCount; lsn: string } | undefined;

  constructor(
    private readonly db: Queryable,
    /** PUMP_WAIT_FOR_STANDBYS; 0 lets everything through at once. */
    readonly wanted: number,
  ) {}

  /**
   * Resolves true once `wanted` standbys have flushed up to `lsn`; false when `mayContinue`
   * turns false first (stopping, no longer leading). A database error rejects.
   */
  async passed(lsn: string, mayContinue: () => boolean): Promise<boolean> {
    if (this.wanted === 0) return true;
    let pause = POLL_MS.first;
    try {
      for (;;) {
        const { rows } = await this.db.query<StandbyCount>('SELECT streaming, confirmed, hidden FROM statehub.standbys_flushed($1::pg_lsn)', [lsn]);
        const count = rows[0]!;
        if (count.confirmed >= this.wanted) return true;
        this.waiting = { since: this.waiting?.since ?? Date.now(), last: count, lsn };
        if (!mayContinue()) return false;
        await sleep(pause);
        pause = Math.min(pause * 2, POLL_MS.cap);
      }
    } finally {
      this.waiting = undefined;
    }
  }

  /** As passed(), for rows read before this call: waits for the WAL inserted up to now. */
  async passedNow(mayContinue: () => boolean): Promise<boolean> {
    if (this.wanted === 0) return true;
    const { rows } = await this.db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    return this.passed(rows[0]!.lsn, mayContinue);
  }

  /** Seconds the current delta has waited for the standbys; 0 when none waits. */
  get waitSeconds(): number {
    return this.waiting ? (Date.now() - this.waiting.since) / 1000 : 0;
  }

  /** Why events wait, once a delta has waited long; undefined otherwise. */
  get problem(): string | undefined {
    const w = this.waiting;
    if (!w || Date.now() - w.since < NOT_READY_AFTER_MS || !w.last) return undefined;
    const { streaming, confirmed, hidden } = w.last;
    const seen = hidden > 0
      ? `${hidden} walsender(s) hidden from the owner of statehub.standbys_flushed() (grant it pg_read_all_stats)`
      : `${streaming} streaming, ${confirmed} flushed to ${w.lsn}`;
    return `waiting ${Math.round(this.waitSeconds)} s for ${this.wanted} standby(s) to flush the WAL (PUMP_WAIT_FOR_STANDBYS): ${seen}; events wait in the outbox`;
  }
}
