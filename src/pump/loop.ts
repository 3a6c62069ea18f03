// The pump loop: wait for a wake-up (notification, reconnect, leadership, safety poll), then
// drain the outbox until it stays empty, handing wake-ups back to NOTIFY with the busy/idle
// handshake described in docs/capture.md.
import type { JetStreamClient } from 'nats';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { Backoff, HealthLog, sleep } from './backoff.ts';
import type { PumpMetrics } from './metrics.ts';
import { markFailed, markPublished, markPublishedAndReadPending, recordAttempts, setDraining, writersSettled, type Ack } from './outbox.ts';
import { publishBatch, type BatchOutcome, type PublisherOptions } from './publisher.ts';
import { WAKE_LOCK_KEY } from '../events/wake.ts';

/**
 * While busy (writers skip NOTIFY), how often to look for more rows: half of it is the average
 * wait a new event sees. An empty read of the pending index costs well under a millisecond.
 */
const BUSY_POLL_MS = 2;
/** How long the outbox must stay empty before going back to NOTIFY. */
const QUIET_MS = 75;
/** How long to try for the wake lock before deciding writers are still streaming in. */
const SETTLE_MAX_MS = 1000;
const SETTLE_RETRY_MS = 3;

export interface LoopOptions {
  db: Db;
  log: Logger;
  metrics: PumpMetrics;
  batchSize: number;
  pollIntervalMs: number;
  publisher: PublisherOptions;
  /** The JetStream client while NATS is usable. */
  js(): JetStreamClient | undefined;
  isLeader(): boolean;
}

type DrainEnd = 'quiet' | 'interrupted' | 'trouble';

export class PumpLoop {
  private woken = true; // drain at start
  private wakeUp: (() => void) | undefined;
  private readonly stopping = new AbortController();
  /** What the draining flag is known to be; 'unknown' for a new leader (a dead one may have left it true). */
  private flag: 'true' | 'false' | 'unknown' = 'unknown';
  /** Acked but not yet marked: marked with the next read, or before the loop stops. */
  private readonly unmarked = new Map<number, Ack>();
  private readonly dbHealth: HealthLog;
  private readonly natsHealth: HealthLog;
  private running: Promise<void> | undefined;

  constructor(private readonly o: LoopOptions) {
    this.dbHealth = new HealthLog(o.log, 'outbox database access');
    this.natsHealth = new HealthLog(o.log, 'JetStream publishing');
  }

  /** Asks for a drain as soon as possible. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** A new leader cannot know what the previous one left in the draining flag. */
  leadershipChanged(leader: boolean): void {
    this.flag = 'unknown';
    if (leader) this.wake();
  }

  /**
   * After the database connection came back, the flag may not be what we last wrote: a crash
   * can lose our (asynchronously committed) write. Write it again on the next drain.
   */
  reconnected(): void {
    this.flag = 'unknown';
    this.wake();
  }

  /** Whether the draining flag may be true (so shutdown should clear it). */
  get flagMayBeSet(): boolean {
    return this.flag !== 'false';
  }

  start(): void {
    this.running = this.run();
  }

  /** Stops taking batches; resolves once in-flight publishes are acked and marked. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake();
    await this.running;
  }

  private mayContinue(): boolean {
    return !this.stopping.signal.aborted && this.o.isLeader();
  }

  private async run(): Promise<void> {
    const natsBackoff = new Backoff(100, 10_000);
    const dbBackoff = new Backoff(100, 5000);
    while (!this.stopping.signal.aborted) {
      await this.waitForWake();
      if (!this.mayContinue() || !this.o.js()) continue;
      try {
        const end = await this.drain();
        this.dbHealth.ok();
        dbBackoff.reset();
        if (end === 'trouble') {
          await sleep(natsBackoff.next(), this.stopping.signal);
          this.woken = true;
        } else if (end === 'quiet') {
          natsBackoff.reset();
          this.natsHealth.ok();
        }
      } catch (err) {
        this.dbHealth.failing(err);
        await sleep(dbBackoff.next(), this.stopping.signal);
        this.woken = true;
      }
    }
    await this.flushMarks().catch((err) => this.o.log.warn('acked rows left unmarked; they will be re-published and deduplicated', { error: (err as Error).message }));
  }

  private waitForWake(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.o.pollIntervalMs);
      const self = this;
      this.wakeUp = done;
      function done() {
        clearTimeout(timer);
        self.wakeUp = undefined;
        self.woken = false;
        resolve();
      }
    });
  }

  /** Publishes until the outbox stays empty and the flag is handed back, or it cannot go on. */
  private async drain(): Promise<DrainEnd> {
    const { db, batchSize } = this.o;
    let quietSince: number | undefined;
    for (;;) {
      const js = this.o.js();
      if (!js || !this.mayContinue()) {
        await this.flushMarks();
        return 'interrupted';
      }
      const acks = [...this.unmarked.values()];
      const rows = await markPublishedAndReadPending(db, acks, batchSize);
      this.unmarked.clear();
      if (rows.length > 0) {
        quietSince = undefined;
        if (this.flag !== 'true') await this.setFlag(true);
        const outcome = await publishBatch(js, rows, this.o.publisher, () => this.mayContinue());
        await this.record(outcome);
        // Stopping or stepping down cut the batch short: that is no sign of NATS trouble.
        if (!this.mayContinue()) continue;
        if (outcome.natsTrouble || (outcome.acked.length === 0 && outcome.setAside.length === 0)) {
          this.natsHealth.failing(new Error(outcome.retry[0]?.error ?? 'no progress'), { pending: rows.length });
          return 'trouble';
        }
        this.natsHealth.ok();
        continue; // read again at once; an empty read below is what waits
      }
      if (this.flag === 'false') return 'quiet';
      quietSince ??= Date.now();
      if (Date.now() - quietSince < QUIET_MS) {
        await sleep(BUSY_POLL_MS);
        continue;
      }
      // Quiet: let writers NOTIFY again, then wait until every writer that saw draining = true
      // has finished, and look once more (the loop's next read) for what they wrote.
      await this.setFlag(false);
      if (!(await this.waitForWriters())) {
        if (!this.mayContinue()) return 'interrupted';
        await this.setFlag(true); // writers keep streaming in: stay busy
        quietSince = undefined;
      }
    }
  }

  private async setFlag(draining: boolean): Promise<void> {
    if (!this.o.isLeader()) return;
    this.flag = 'unknown';
    await setDraining(this.o.db, draining);
    this.flag = draining ? 'true' : 'false';
  }

  private async waitForWriters(): Promise<boolean> {
    const deadline = Date.now() + SETTLE_MAX_MS;
    while (!(await writersSettled(this.o.db, WAKE_LOCK_KEY))) {
      if (Date.now() > deadline || !this.mayContinue()) return false;
      await sleep(SETTLE_RETRY_MS);
    }
    return true;
  }

  private async record(outcome: BatchOutcome): Promise<void> {
    const now = Date.now();
    for (const a of outcome.acked) {
      this.unmarked.set(a.id, a);
      this.o.metrics.observeAck((now - a.occurredAt.getTime()) / 1000, a.duplicate);
    }
    this.o.metrics.countErrors(outcome.setAside.length + outcome.retry.length);
    // Acks are marked by the next read (one round trip), or by flushMarks when the drain ends.
    for (const f of outcome.setAside) this.o.log.warn('outbox row set aside', { outbox_id: f.id, reason: f.error });
    await markFailed(this.o.db, outcome.setAside);
    await recordAttempts(this.o.db, outcome.retry);
  }

  private async flushMarks(): Promise<void> {
    if (this.unmarked.size === 0) return;
    await markPublished(this.o.db, [...this.unmarked.values()]);
    this.unmarked.clear();
  }
}
