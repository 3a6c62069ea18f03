// The leader's side of the wake-up handshake (docs/capture.md, sql/800_wake_pump.sql): while the
// busy flag is true writers skip NOTIFY; handing back clears it, then waits until every writer
// that read true has finished, so one more look finds what they wrote.
import type { Db } from '../db.ts';
import { WAKE_LOCK_KEY } from '../events/wake.ts';
import { Backoff, sleep } from './backoff.ts';
import { setBusy, writersSettled } from './outbox.ts';

/**
 * How long to try for the wake lock before deciding writers are still streaming in, and the
 * pause between tries: growing, so a writer idle in its transaction (holding the lock shared)
 * costs a few queries a second, not hundreds.
 */
const SETTLE_MAX_MS = 1000;
const SETTLE_RETRY_MS = { base: 3, cap: 200 };

export class BusyFlag {
  /** What the flag is known to be; 'unknown' for a new leader (a dead one may have left it true). */
  private known: 'true' | 'false' | 'unknown' = 'unknown';

  constructor(
    private readonly db: Db,
    /** Only the leader writes the flag. */
    private readonly isLeader: () => boolean,
  ) {}

  /** After a change of leader or a database reconnect (a crash can lose an asynchronous write). */
  forget(): void {
    this.known = 'unknown';
  }

  get isOff(): boolean {
    return this.known === 'false';
  }

  /** Whether it may be true (so shutdown should clear it). */
  get mayBeSet(): boolean {
    return this.known !== 'false';
  }

  async set(busy: boolean): Promise<void> {
    if (!this.isLeader()) return;
    if (this.known === String(busy)) return;
    this.known = 'unknown';
    await setBusy(this.db, busy);
    this.known = busy ? 'true' : 'false';
  }

  /**
   * Clears the flag and waits for the writers that saw it set: 'settled' when they are done,
   * 'streaming' when they keep coming (the flag is set again), 'interrupted' when `stop()` says so.
   */
  async handBack(stop: () => boolean): Promise<'settled' | 'streaming' | 'interrupted'> {
    await this.set(false);
    const deadline = Date.now() + SETTLE_MAX_MS;
    const pause = new Backoff(SETTLE_RETRY_MS.base, SETTLE_RETRY_MS.cap);
    while (!(await writersSettled(this.db, WAKE_LOCK_KEY))) {
      if (stop() || !this.isLeader()) return 'interrupted';
      if (Date.now() > deadline) {
        await this.set(true);
        return 'streaming';
      }
      await sleep(pause.next());
    }
    return 'settled';
  }
}
