// The leader's delivery loop, as a state machine:
//
//   idle ──wake──▶ delivering ──nothing new──▶ quiet ──75 ms──▶ handing back ──▶ idle
//                   ▲     │                      │                   │
//                   └─────┴──── rows ◀───────────┴───────────────────┘
//   any state ──database error──▶ backing off ──▶ delivering;   stop() ──▶ stopped
//
// delivering: publish again what the stream lost after acknowledging it (restore.ts), the parked
// events an operator released (release.ts), then the next delta (delta-run.ts: the rows
// committed since the snapshot reached), page by page with the next page read while the
// current one is in flight. Delivered events are recorded as one batch row about once a second
// while events keep coming (also part way through a large delta), and when they stop (on the way
// to handing back), before idling or stopping, and at once when events were parked. While
// delivering, and while idle because NATS is unusable, the busy flag tells writers to skip
// NOTIFY; handing back clears it (busy-flag.ts).
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { Backoff, HealthLog, sleep } from './backoff.ts';
import { Bookkeeping } from './bookkeeping.ts';
import { BusyFlag } from './busy-flag.ts';
import { deliverDeltas } from './delta-run.ts';
import type { JetStreamLink } from './jetstream.ts';
import type { JetStreamPublisher } from './jetstream-publisher.ts';
import { Lanes, type Acked, type Publisher } from './lanes.ts';
import type { PumpMetrics } from './metrics.ts';
import { confirmDatabase, PositionAheadError, type Origin } from './origin.ts';
import type { Parked } from './outbox.ts';
import { envelopePublisher } from './publish.ts';
import { releaseParked, type ReleaseRun } from './release.ts';
import { ReleasePace } from './release-pace.ts';
import { Restorer } from './restore.ts';
import type { StandbyGate } from './standbys.ts';

/** While busy (writers skip NOTIFY), how often to look for new rows after an empty look; how long nothing new must arrive before going back to NOTIFY. */
const BUSY_POLL_MS = 2;
const QUIET_MS = 75;

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
  /** What JetStream says of the stream: tells a stream that lost acknowledged messages from one created anew. */
  stream?: Pick<JetStreamLink, 'streamCreatedAt' | 'streamNow'>;
  isLeader(): boolean;
  /** PUMP_WAIT_FOR_STANDBYS: what a delta waits for before it is published. */
  standbys: StandbyGate;
  /** The database cannot be published from (its position lies ahead of it): the pump must stop. */
  onFatal(err: Error): void;
  /** Grows when the pool's connections go to another server (a multi-host DATABASE_URL after a failover). */
  databaseServer?(): number;
}

export class Delivery {
  private current: DeliveryState = 'idle';
  private woken = true; // deliver at start
  private wakeUp: (() => void) | undefined;
  private stopping = false;
  /** Shutdown ran out of time: every lane gives up at once. */
  private abandoned = false;
  private readonly releases = new ReleasePace();
  private readonly stopSignal = new AbortController();
  private lanes: Lanes | undefined;
  private readonly book: Bookkeeping;
  private readonly busy: BusyFlag;
  /** Since when the rounds found nothing new; undefined while they do. */
  private quietSince: number | undefined;
  private readonly dbBackoff = new Backoff(100, 5000);
  private readonly dbHealth: HealthLog;
  private readonly natsHealth: HealthLog;
  private running: Promise<void> | undefined;
  private readonly publish: Publisher;
  /** The database published from, confirmed before the first delta after every (re)connect or change of leader. */
  private origin: Origin | undefined;
  private originServer = 0;
  private readonly restorer: Restorer;
  private readonly releaseRun: ReleaseRun;
  constructor(private readonly o: DeliveryOptions) {
    this.busy = new BusyFlag(o.db, o.isLeader);
    this.book = new Bookkeeping({
      db: o.db,
      log: o.log,
      mayRecord: () => this.o.isLeader() && !this.abandoned,
      onMoved: () => this.lanes?.abort(),
    });
    this.dbHealth = new HealthLog(o.log, 'outbox database access');
    this.natsHealth = new HealthLog(o.log, 'JetStream publishing');
    this.publish = envelopePublisher(o.publisher, o.jetstream, () => this.origin);
    this.restorer = new Restorer({
      db: o.db,
      log: o.log,
      metrics: o.metrics,
      batchSize: o.batchSize,
      stream: o.stream,
      lanes: (onAck) => this.newLanes(true, onAck, undefined, false),
      forgetPosition: () => this.book.forget(),
      signal: this.stopSignal.signal,
    });
    this.releaseRun = {
      db: o.db,
      batchSize: o.batchSize,
      pace: this.releases,
      busy: this.busy,
      mayPublish: () => o.standbys.passedNow(() => this.mayGoOn()),
      lanes: (onAck) => this.newLanes(false, onAck),
    };
  }

  /** Asks for a look at the outbox (and at released parked events) as soon as possible. */
  wake(): void {
    this.woken = true;
    this.releases.ask(); // an operator's requeue or skip is acted on at once
    this.wakeUp?.();
  }

  /** A new leader cannot know what the previous one left in the busy flag, nor where it got to. */
  leadershipChanged(leader: boolean): void {
    this.origin = undefined;
    this.busy.forget();
    this.book.forget(); // the next leader publishes it again (JetStream drops the copies)
    if (!leader) this.lanes?.abort();
    else this.wake();
  }

  /**
   * The database connection came (back): the busy flag may not be what we last wrote (a crash
   * can lose an asynchronously committed write), and notifications sent meanwhile are lost.
   */
  databaseConnected(): void {
    this.origin = undefined;
    this.busy.forget();
    // After a server crash the last batch rows (committed asynchronously) may be gone: start
    // again from what the database says, and leave the delta in flight to be published again.
    this.book.forget();
    this.lanes?.abort();
    this.wake();
  }

  /** Whether the busy flag may be true (so shutdown should clear it). */
  get flagMayBeSet(): boolean {
    return this.busy.mayBeSet;
  }

  start(): void {
    this.running = this.run();
  }

  /** Takes no new delta; resolves once the current one is recorded (or given up on). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    this.restorer.stopping();
    this.woken = true; // also when stop() lands before the idle step starts waiting
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
        if (err instanceof PositionAheadError) {
          this.o.onFatal(err);
          this.current = 'stopped';
          return;
        }
        this.dbHealth.failing(err);
        this.book.forget(); // re-read: the last record may or may not have committed
        this.origin = undefined; // the pool may reach another server next (a failover)
        this.current = 'backing off';
      }
    }
  }

  /** Whether a wait may go on: still leading, neither stopping nor given up. */
  private mayGoOn(): boolean {
    return this.o.isLeader() && !this.stopping && !this.abandoned;
  }

  private canDeliver(): boolean {
    return this.o.isLeader() && this.o.jetstream() !== undefined;
  }

  private async step(state: DeliveryState): Promise<DeliveryState> {
    if (this.stopping) {
      await this.book.record();
      return 'stopped';
    }
    switch (state) {
      case 'idle':
        await this.book.record();
        // A leader that cannot publish needs no wake-up: it looks once NATS is usable again (the
        // pump wakes it then). Setting busy spares every writer the NOTIFY meanwhile, which would
        // serialize their commits for the whole outage.
        if (this.o.isLeader() && !this.o.jetstream()) await this.busy.set(true);
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
        if (this.book.due && (await this.book.record())) return 'delivering';
        this.quietSince ??= Date.now();
        if (!this.busy.isOff) return 'quiet';
        this.quietSince = undefined;
        return 'idle';
      case 'quiet':
        if (Date.now() - this.quietSince! >= QUIET_MS) {
          await this.book.record();
          return 'handing back';
        }
        await sleep(BUSY_POLL_MS);
        return 'delivering';
      case 'handing back':
        this.quietSince = undefined;
        // 'settled' or 'streaming': look once more (for what the last writers wrote, or the stream).
        return (await this.busy.handBack(() => this.stopping)) === 'interrupted' ? 'idle' : 'delivering';
      case 'stopped':
        return 'stopped';
    }
  }

  /**
   * Waits for a wake-up. The position is read again afterwards: whoever changed the bookkeeping
   * while this pump was idle (another leader, an operator) is taken into account.
   */
  private waitForWake(): Promise<void> {
    this.book.forgetPosition();
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
        self.releases.ask();
        resolve();
      }
    });
  }

  /** One round: released parked events, then the next delta. True when either had events. */
  private async deliver(): Promise<boolean> {
    const server = this.o.databaseServer?.() ?? 0;
    if (server !== this.originServer) [this.origin, this.originServer] = [undefined, server];
    this.origin ??= await confirmDatabase(this.o.db);
    if (this.restorer.pending) await this.restorer.restore();
    const found = this.releases.take() && (await releaseParked(this.releaseRun));
    if (this.restorer.pending) return true; // seen while releasing: the lost events go first
    if (this.stopping) return found; // no new delta once stopping
    const { db, batchSize } = this.o;
    const mayPublish = (lsn: string) => this.o.standbys.passed(lsn, () => this.mayGoOn());
    const run = { db, batchSize, book: this.book, busy: this.busy, mayPublish, stopping: () => this.stopping };
    return (await deliverDeltas({ ...run, lanes: (onAck, onPark) => this.newLanes(true, onAck, onPark) })) || found;
  }

  /** Lanes reporting to `onAck` and `onPark`; `latency` false keeps their acks out of the capture-to-ack histogram (events published again). */
  private newLanes(retryTransient: boolean, onAck: (a: Acked) => void, onPark?: (p: Parked) => void, latency = true): Lanes {
    const lanes = new Lanes({
      publish: this.publish,
      maxInFlight: this.o.maxInFlight,
      retryTransient,
      mayContinue: () => this.o.isLeader() && !this.abandoned,
      canPublish: () => this.o.jetstream() !== undefined,
      onAck: (a) => {
        this.natsHealth.ok();
        this.o.metrics.observeAck(latency ? (Date.now() - a.occurredAt.getTime()) / 1000 : undefined, a.duplicate);
        onAck(a);
        // The stream lost what it acknowledged: stop here; deliver() publishes the lost events again first.
        if (this.restorer.observe(a)) lanes.abort();
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
}
