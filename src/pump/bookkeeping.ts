// The leader's side of the batch rows (migrations/0007): where delivery stands, what was delivered
// since, and when to write the next row. Rows are written about once a second while events keep
// coming, also part way through a large delta, so an interruption re-publishes about that much.
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { describe } from './backoff.ts';
import { PositionMovedError, readPosition, recordBatch, type Position } from './outbox.ts';
import { Progress, type DeltaChain } from './progress.ts';

/**
 * While events keep coming, delivered deltas are recorded together, in one batch row, about this
 * often or after this many events (and when they stop, before idling or stopping, and at once when
 * events were parked). A crash re-publishes about that much.
 */
const RECORD_EVERY_MS = 1000;
const RECORD_EVERY_EVENTS = 10_000;

export interface BookkeepingOptions {
  db: Db;
  log: Logger;
  /** False when this pump may not record (no longer leading, shutdown gave up). */
  mayRecord(): boolean;
  /** Another pump recorded after our position: what is in flight is its to publish. */
  onMoved(): void;
}

export class Bookkeeping {
  /** The last recorded batch; undefined when it must be read again. */
  private position: Position | undefined;
  /** Delivered since `position`, not recorded yet. */
  private progress: Progress | undefined;

  constructor(private readonly o: BookkeepingOptions) {}

  /** Reads the position again before the next delta (another pump or an operator may have moved it). */
  forgetPosition(): void {
    this.position = undefined;
  }

  /** Forgets what was not recorded too: it is published again, and JetStream drops the copies. */
  forget(): void {
    this.position = undefined;
    this.progress = undefined;
  }

  /** The progress since the last batch row, reading the position when it is not known. */
  async current(): Promise<Progress> {
    this.position ??= await readPosition(this.o.db);
    return (this.progress ??= new Progress(this.position));
  }

  /** The progress, unless the position was lost meanwhile (moved, or forgotten). */
  get known(): Progress | undefined {
    return this.position && (this.progress ??= new Progress(this.position));
  }

  get due(): boolean {
    const p = this.progress;
    return p !== undefined && p.changed && (Date.now() - p.startedAt.getTime() >= RECORD_EVERY_MS || p.events >= RECORD_EVERY_EVENTS);
  }

  /**
   * Waits for `work`; meanwhile, about once a second (or every 10,000 events), records how far
   * the deltas in flight have got, so an interruption re-publishes only what came after.
   */
  async recordingWhile<T>(work: Promise<T>, chain: DeltaChain): Promise<T> {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((r) => (timer = setTimeout(() => r('tick'), RECORD_EVERY_MS / 4)));
      const got = await Promise.race([work, tick]);
      clearTimeout(timer);
      if (got !== 'tick') return got as T;
      await this.recordPart(chain);
    }
  }

  /** Takes what the deltas in flight have settled, in order, and records it when a record is due. */
  async recordPart(chain: DeltaChain): Promise<void> {
    const progress = this.o.mayRecord() ? this.known : undefined;
    if (!progress) return;
    chain.harvest(progress);
    if (this.due) await this.record();
  }

  /** Writes what was delivered since the last batch row as one new batch row; false when there was nothing to write. */
  async record(): Promise<boolean> {
    const progress = this.progress;
    this.progress = undefined; // the next one starts afresh (its startedAt goes into the row)
    if (!progress?.changed) return false;
    try {
      this.position = await recordBatch(this.o.db, progress.record);
      return true;
    } catch (err) {
      this.position = undefined;
      if (!(err instanceof PositionMovedError)) throw err;
      this.o.onMoved();
      this.o.log.warn('another pump recorded these deltas; re-reading the position', { error: describe(err) });
      return false;
    }
  }
}
