// The leader's delivery loop, as a state machine:
//
//   idle ──wake──▶ delivering ──nothing new──▶ quiet ──75 ms──▶ handing back ──▶ idle
//                   ▲     │                      │                   │
//                   └─────┴──── rows ◀───────────┴───────────────────┘
//   any state ──database error──▶ backing off ──▶ delivering;   stop() ──▶ stopped
//
// delivering: publish the parked events an operator released, then the next delta (the rows
// committed since the snapshot reached), page by page with the next page read while the
// current one is in flight. Delivered events are recorded as one batch row about once a second
// while events keep coming (also part way through a large delta), and when they stop (on the way
// to handing back), before idling or stopping, and at once when events were parked. While delivering the busy flag tells writers to skip NOTIFY (docs/capture.md); handing
// back clears it with the wake-lock handshake.
import type { Db } from '../db.ts';
import { CatalogError, toEnvelope } from '../events/catalog.ts';
import { WAKE_LOCK_KEY } from '../events/wake.ts';
import type { Logger } from '../logger.ts';
import { Backoff, HealthLog, describe, sleep } from './backoff.ts';
import type { JetStreamPublisher } from './jetstream-publisher.ts';
import { Lanes, type Acked, type Publisher } from './lanes.ts';
import type { PumpMetrics } from './metrics.ts';
import { openDelta } from './delta.ts';
import { Progress, Watermark } from './progress.ts';
import {
  PositionMovedError,
  readPosition,
  readReleasable,
  recordBatch,
  setBusy,
  settleReleased,
  writersSettled,
  type Parked,
  type Position,
} from './outbox.ts';
import { PermanentPublishError } from './publish.ts';

/** While busy (writers skip NOTIFY), how often to look for new rows after an empty look. */
const BUSY_POLL_MS = 2;
/** How long nothing new must arrive before going back to NOTIFY. */
const QUIET_MS = 75;
/** How long to try for the wake lock before deciding writers are still streaming in. */
const SETTLE_MAX_MS = 1000;
const SETTLE_RETRY_MS = 3;
/** While busy, how often to look for parked events an operator released (a NOTIFY also asks). */
const RELEASE_CHECK_MS = 1000;
/**
 * While events keep coming, delivered deltas are recorded together, in one batch row, about this
 * often or after this many events (and when they stop, before idling or stopping, and at once when
 * events were parked). A crash re-publishes about that much.
 */
const RECORD_EVERY_MS = 1000;
const RECORD_EVERY_EVENTS = 10_000;

export type DeliveryState = 'idle' | 'delivering' | 'quiet' | 'handing back' | 'backing off' | 'stopped';

export interface DeliveryOptions {
  db: Db;
  log: Logger;
  metrics: PumpMetrics;
  batchSize: number;
  pollIntervalMs: number;
  maxInFlight: number;
  publisher: string;
  /** The JetStream publisher while NATS is usable. */
  jetstream(): JetStreamPublisher | undefined;
  isLeader(): boolean;
}

const encoder = new TextEncoder();

export class Delivery {
  private current: DeliveryState = 'idle';
  private woken = true; // deliver at start
  private wakeUp: (() => void) | undefined;
  private stopping = false;
  /** Shutdown ran out of time: every lane gives up at once. */
  private abandoned = false;
  /** Released events that fail transiently are tried again after a growing pause. */
  private readonly releaseBackoff = new Backoff(1000, 60_000);
  private releaseNotBefore = 0;
  private readonly stopSignal = new AbortController();
  private lanes: Lanes | undefined;
  /** The last recorded batch; undefined when it must be read again. */
  private position: Position | undefined;
  /** Delivered since `position`, not recorded yet. */
  private progress: Progress | undefined;
  /** What the busy flag is known to be; 'unknown' for a new leader (a dead one may have left it true). */
  private flag: 'true' | 'false' | 'unknown' = 'unknown';
  private releaseDue = true;
  private lastReleaseCheck = 0;
  /** Since when the rounds found nothing new; undefined while they do. */
  private quietSince: number | undefined;
  private readonly dbBackoff = new Backoff(100, 5000);
  private readonly dbHealth: HealthLog;
  private readonly natsHealth: HealthLog;
  private running: Promise<void> | undefined;
  private readonly publish: Publisher;

  constructor(private readonly o: DeliveryOptions) {
    this.dbHealth = new HealthLog(o.log, 'outbox database access');
    this.natsHealth = new HealthLog(o.log, 'JetStream publishing');
    this.publish = (row) => {
      let data: Uint8Array;
      try {
        data = encoder.encode(JSON.stringify(toEnvelope(row, o.publisher)));
      } catch (err) {
        if (err instanceof CatalogError) return Promise.reject(new PermanentPublishError(err.message, { cause: err }));
        throw err;
      }
      const publisher = o.jetstream();
      if (!publisher) return Promise.reject(new Error('NATS is not usable'));
      return publisher.publish(row.subject, data, row.event_id);
    };
  }

  /** Asks for a look at the outbox (and at released parked events) as soon as possible. */
  wake(): void {
    this.woken = true;
    this.releaseDue = true;
    this.releaseNotBefore = 0; // an operator's requeue or skip is acted on at once
    this.wakeUp?.();
  }

  /** A new leader cannot know what the previous one left in the busy flag, nor where it got to. */
  leadershipChanged(leader: boolean): void {
    this.flag = 'unknown';
    this.position = undefined;
    this.progress = undefined; // the next leader publishes it again (JetStream drops the copies)
    if (!leader) this.lanes?.abort();
    else this.wake();
  }

  /**
   * The database connection came (back): the busy flag may not be what we last wrote (a crash
   * can lose an asynchronously committed write), and notifications sent meanwhile are lost.
   */
  databaseConnected(): void {
    this.flag = 'unknown';
    // After a server crash the last batch rows (committed asynchronously) may be gone: start
    // again from what the database says, and leave the delta in flight to be published again.
    this.position = undefined;
    this.progress = undefined;
    this.lanes?.abort();
    this.wake();
  }

  /** Whether the busy flag may be true (so shutdown should clear it). */
  get flagMayBeSet(): boolean {
    return this.flag !== 'false';
  }

  start(): void {
    this.running = this.run();
  }

  /** Takes no new delta; resolves once the current one is recorded (or given up on). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    this.wakeUp?.();
    await this.running;
  }

  /** Gives up the delta in flight at once (shutdown timeout): it is published again later. */
  abandon(): void {
    this.abandoned = true;
    this.lanes?.abort();
  }

  private async run(): Promise<void> {
    while (this.current !== 'stopped') {
      try {
        this.current = await this.step(this.current);
        if (this.current !== 'backing off') {
          this.dbHealth.ok();
          this.dbBackoff.reset();
        }
      } catch (err) {
        this.lanes?.abort();
        this.dbHealth.failing(err);
        this.position = undefined; // re-read: the last record may or may not have committed
        this.progress = undefined;
        this.current = 'backing off';
      }
    }
  }

  private canDeliver(): boolean {
    return this.o.isLeader() && this.o.jetstream() !== undefined;
  }

  private async step(state: DeliveryState): Promise<DeliveryState> {
    if (this.stopping) {
      await this.record();
      return 'stopped';
    }
    switch (state) {
      case 'idle':
        await this.record();
        await this.waitForWake();
        return this.canDeliver() ? 'delivering' : 'idle';
      case 'backing off':
        await sleep(this.dbBackoff.next(), this.stopSignal.signal);
        return this.canDeliver() ? 'delivering' : 'idle';
      case 'delivering':
        if (!this.canDeliver()) return 'idle';
        if (await this.deliver()) {
          this.quietSince = undefined;
          return 'delivering';
        }
        // While events keep coming the batch row is written about once a second; when they stop,
        // on the way to idle (handing back).
        if (this.progress && this.recordDue(this.progress) && (await this.record())) return 'delivering';
        this.quietSince ??= Date.now();
        if (this.flag !== 'false') return 'quiet';
        this.quietSince = undefined;
        return 'idle';
      case 'quiet':
        if (Date.now() - this.quietSince! >= QUIET_MS) {
          await this.record();
          return 'handing back';
        }
        await sleep(BUSY_POLL_MS);
        return 'delivering';
      case 'handing back':
        return this.handBack();
      case 'stopped':
        return 'stopped';
    }
  }

  /**
   * Waits for a wake-up. The position is read again afterwards: whoever changed the bookkeeping
   * while this pump was idle (another leader, an operator) is taken into account.
   */
  private waitForWake(): Promise<void> {
    this.position = undefined;
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
        self.releaseDue = true;
        resolve();
      }
    });
  }

  /** One round: released parked events, then the next delta. True when either had events. */
  private async deliver(): Promise<boolean> {
    let found = false;
    if (this.releaseDue || Date.now() - this.lastReleaseCheck > RELEASE_CHECK_MS) {
      this.releaseDue = false;
      this.lastReleaseCheck = Date.now();
      found = await this.release();
    }
    if (this.stopping) return found; // no new delta once stopping
    return (await this.deliverDelta()) || found;
  }

  private newLanes(retryTransient: boolean, onAck: (a: Acked) => void, onPark?: (p: Parked) => void): Lanes {
    const lanes = new Lanes({
      publish: this.publish,
      maxInFlight: this.o.maxInFlight,
      retryTransient,
      mayContinue: () => this.o.isLeader() && !this.abandoned,
      canPublish: () => this.o.jetstream() !== undefined,
      onAck: (a) => {
        this.natsHealth.ok();
        this.o.metrics.observeAck((Date.now() - a.occurredAt.getTime()) / 1000, a.duplicate);
        onAck(a);
      },
      onPark,
      onError: (row, error, permanent) => {
        this.o.metrics.countErrors(1);
        if (permanent) this.o.log.warn('event parked: it cannot be published', { outbox_id: row.id, ordering_key: row.ordering_key, reason: error.message });
        else this.natsHealth.failing(error, { outbox_id: row.id });
      },
      log: this.o.log,
    });
    this.lanes = lanes;
    return lanes;
  }

  /** Publishes the parked events that may go now and records what became of them. */
  private async release(): Promise<boolean> {
    if (performance.now() < this.releaseNotBefore) return false;
    const rows = await readReleasable(this.o.db, this.o.batchSize);
    if (rows.length === 0) return false;
    await this.ensureBusy();
    const acks: Acked[] = [];
    const lanes = this.newLanes(false, (a) => acks.push(a));
    lanes.add(rows);
    await lanes.close();
    // Also after an abort: what was acked is published, whoever leads next.
    await settleReleased(this.o.db, acks, lanes.parked.filter((p) => p.state === 'failed').map((p) => ({ id: p.id, error: p.error! })));
    if (lanes.left.length > 0) {
      // Still failing transiently: they stay waiting; come back later, later each time.
      this.releaseNotBefore = performance.now() + this.releaseBackoff.next();
    } else {
      this.releaseBackoff.reset();
      if (acks.length > 0) this.releaseDue = true; // there may be more: look again next round
    }
    return acks.length > 0;
  }

  /** Delivers the next delta (or the rest of one recorded part way), if there is one. */
  private async deliverDelta(): Promise<boolean> {
    const { db, batchSize } = this.o;
    const progress = this.progressNow((this.position ??= await readPosition(db)));
    const resume = progress.partial ? { snapshot: progress.partial.snapshot, afterId: progress.partial.throughId } : undefined;
    const reader = await openDelta(db, progress.snapshot, batchSize, resume);
    if (!reader) {
      if (!resume) return false;
      progress.complete(resume.snapshot); // nothing after the recorded part: the delta is done
      await this.record();
      return true;
    }
    const { delta } = reader;
    await this.ensureBusy();
    const mark = new Watermark();
    const lanes = this.newLanes(true, (a) => mark.acked(a), (p) => mark.parked(p));
    let read = 0;
    for (let page = await reader.next(); page; page = await reader.next()) {
      mark.added(page);
      lanes.add(page);
      read += page.length;
      // Read the next page while this one is still in flight: the window never runs dry.
      await this.recordingWhile(lanes.roomFor(batchSize), delta.snapshot, mark);
      if (lanes.gaveUp) break;
      await this.recordPart(delta.snapshot, mark);
    }
    const end = await this.recordingWhile(lanes.close(), delta.snapshot, mark);
    if (end === 'aborted' || !this.position) return true; // the rest is published again, by whoever leads
    if (read !== delta.events) this.o.log.error('delta read differs from its count', { counted: delta.events, read });
    const done = this.progressNow(this.position!);
    mark.harvest(done);
    done.complete(delta.snapshot);
    // Parked events are recorded at once: the next delta must see their keys blocked.
    if (this.recordDue(done) || done.parked.length > 0) await this.record();
    return true;
  }

  /** The progress since the last batch row (a fresh one after each record). */
  private progressNow(position: Position): Progress {
    return (this.progress ??= new Progress(position));
  }

  private recordDue(progress: Progress): boolean {
    return Date.now() - progress.startedAt.getTime() >= RECORD_EVERY_MS || progress.events >= RECORD_EVERY_EVENTS;
  }

  /**
   * Waits for `work`; meanwhile, about once a second (or every 10,000 events), records how far
   * the delta toward `snapshot` has got, so an interruption re-publishes only what came after.
   */
  private async recordingWhile<T>(work: Promise<T>, snapshot: string, mark: Watermark): Promise<T> {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((r) => (timer = setTimeout(() => r('tick'), RECORD_EVERY_MS / 4)));
      const got = await Promise.race([work, tick]);
      clearTimeout(timer);
      if (got !== 'tick') return got as T;
      await this.recordPart(snapshot, mark);
    }
  }

  /** Records the delta toward `snapshot` part way, through its settled prefix, when a record is due. */
  private async recordPart(snapshot: string, mark: Watermark): Promise<void> {
    if (!this.o.isLeader() || this.abandoned || !this.position) return;
    const progress = this.progressNow(this.position);
    const through = mark.harvest(progress);
    if (through !== undefined) progress.through(snapshot, through);
    if (progress.changed && this.recordDue(progress)) await this.record();
  }

  /** Writes what was delivered since the last batch row as one new batch row; false when there was nothing to write. */
  private async record(): Promise<boolean> {
    const progress = this.progress;
    this.progress = undefined; // the next one starts afresh (its startedAt goes into the row)
    if (!progress?.changed) return false;
    try {
      this.position = await recordBatch(this.o.db, progress.record);
      return true;
    } catch (err) {
      this.position = undefined;
      if (!(err instanceof PositionMovedError)) throw err;
      this.lanes?.abort(); // another pump leads: what is in flight is its to publish
      this.o.log.warn('another pump recorded these deltas; re-reading the position', { error: describe(err) });
      return false;
    }
  }

  private async ensureBusy(): Promise<void> {
    if (this.flag !== 'true') await this.setFlag(true);
  }

  private async setFlag(busy: boolean): Promise<void> {
    if (!this.o.isLeader()) return;
    this.flag = 'unknown';
    await setBusy(this.o.db, busy);
    this.flag = busy ? 'true' : 'false';
  }

  /**
   * Quiet: let writers NOTIFY again, then wait until every writer that saw busy = true has
   * finished, and look once more for what they wrote (the next delivering round).
   */
  private async handBack(): Promise<DeliveryState> {
    this.quietSince = undefined;
    await this.setFlag(false);
    const deadline = Date.now() + SETTLE_MAX_MS;
    while (!(await writersSettled(this.o.db, WAKE_LOCK_KEY))) {
      if (this.stopping || !this.o.isLeader()) return 'idle';
      if (Date.now() > deadline) {
        await this.setFlag(true); // writers keep streaming in: stay busy
        return 'delivering';
      }
      await sleep(SETTLE_RETRY_MS);
    }
    return 'delivering';
  }
}
