// The leader's delivery loop, as a state machine:
//
//   idle ──wake──▶ delivering ──nothing new──▶ quiet ──75 ms──▶ handing back ──▶ idle
//                   ▲     │                      │                   │
//                   └─────┴──── rows ◀───────────┴───────────────────┘
//   any state ──database error──▶ backing off ──▶ delivering;   stop() ──▶ stopped
//
// delivering: publish the parked events an operator released, then the next delta (the rows
// committed since the last batch's snapshot), page by page with the next page read while the
// current one is in flight; record the delta as one batch row once every event is acked or
// parked. While delivering the busy flag tells writers to skip NOTIFY (docs/capture.md);
// handing back clears it with the wake-lock handshake.
import type { Db } from '../db.ts';
import { CatalogError, toEnvelope } from '../events/catalog.ts';
import { WAKE_LOCK_KEY } from '../events/wake.ts';
import type { Logger } from '../logger.ts';
import { Backoff, HealthLog, describe, sleep } from './backoff.ts';
import type { JetStreamPublisher } from './jetstream-publisher.ts';
import { Lanes, type Publisher } from './lanes.ts';
import type { PumpMetrics } from './metrics.ts';
import {
  openDelta,
  PositionMovedError,
  readPage,
  readPosition,
  readReleasable,
  recordBatch,
  setBusy,
  settleReleased,
  writersSettled,
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
  private readonly stopSignal = new AbortController();
  private lanes: Lanes | undefined;
  private position: Position | undefined;
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

  get state(): DeliveryState {
    return this.current;
  }

  /** Asks for a look at the outbox (and at released parked events) as soon as possible. */
  wake(): void {
    this.woken = true;
    this.releaseDue = true;
    this.wakeUp?.();
  }

  /** A new leader cannot know what the previous one left in the busy flag, nor where it got to. */
  leadershipChanged(leader: boolean): void {
    this.flag = 'unknown';
    this.position = undefined;
    if (!leader) this.lanes?.abort();
    else this.wake();
  }

  /**
   * The database connection came (back): the busy flag may not be what we last wrote (a crash
   * can lose an asynchronously committed write), and notifications sent meanwhile are lost.
   */
  databaseConnected(): void {
    this.flag = 'unknown';
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
        this.current = 'backing off';
      }
    }
  }

  private canDeliver(): boolean {
    return this.o.isLeader() && this.o.jetstream() !== undefined;
  }

  private async step(state: DeliveryState): Promise<DeliveryState> {
    if (this.stopping) return 'stopped';
    switch (state) {
      case 'idle':
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
        this.quietSince ??= Date.now();
        if (this.flag !== 'false') return 'quiet';
        this.quietSince = undefined;
        return 'idle';
      case 'quiet':
        if (Date.now() - this.quietSince! >= QUIET_MS) return 'handing back';
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
    return (await this.deliverDelta()) || found;
  }

  private newLanes(): Lanes {
    const lanes = new Lanes({
      publish: this.publish,
      maxInFlight: this.o.maxInFlight,
      mayContinue: () => this.o.isLeader(),
      canPublish: () => this.o.jetstream() !== undefined,
      onAck: (a) => {
        this.natsHealth.ok();
        this.o.metrics.observeAck((Date.now() - a.occurredAt.getTime()) / 1000, a.duplicate);
      },
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
    const rows = await readReleasable(this.o.db, this.o.batchSize);
    if (rows.length === 0) return false;
    await this.ensureBusy();
    const lanes = this.newLanes();
    lanes.add(rows);
    await lanes.close();
    // Also after an abort: what was acked is published, whoever leads next.
    await settleReleased(this.o.db, lanes.acks, lanes.parked.filter((p) => p.state === 'failed').map((p) => ({ id: p.id, error: p.error! })));
    return true;
  }

  /** Delivers the next delta, if there is one. */
  private async deliverDelta(): Promise<boolean> {
    const { db, batchSize } = this.o;
    const previous = (this.position ??= await readPosition(db));
    const startedAt = new Date();
    const { delta, rows: first } = await openDelta(db, previous.snapshot, batchSize);
    if (delta.events === 0) return false;
    await this.ensureBusy();
    const lanes = this.newLanes();
    let read = first.length;
    let page = first;
    for (;;) {
      lanes.add(page);
      const last = page.at(-1);
      if (page.length < batchSize || !last || last.id >= delta.lastId!) break;
      // Read the next page while this one is still in flight: the window never runs dry.
      await lanes.roomFor(batchSize);
      if (lanes.gaveUp) break;
      page = await readPage(db, previous.snapshot, delta, last.id, batchSize);
      read += page.length;
    }
    if ((await lanes.close()) === 'aborted') return true;
    if (read !== delta.events) this.o.log.error('delta read differs from its count', { counted: delta.events, read });
    try {
      this.position = await recordBatch(db, {
        previous,
        snapshot: delta.snapshot,
        events: read,
        acks: lanes.acks,
        parked: lanes.parked,
        firstId: delta.firstId,
        lastId: delta.lastId,
        startedAt,
      });
    } catch (err) {
      if (!(err instanceof PositionMovedError)) throw err;
      this.o.log.warn('another pump recorded this delta; re-reading the position', { error: describe(err) });
      this.position = undefined;
    }
    return true;
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
