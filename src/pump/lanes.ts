// Publishes a stream of outbox rows to JetStream: up to maxInFlight publishes outstanding, at
// most one per ordering key, each key's rows in id order. A key whose publish fails transiently
// is retried (same msgID) with backoff while the other keys flow; a key whose event fails for
// good is blocked: that event is parked as failed and the key's later rows as waiting. A key
// whose event keeps failing transiently for stuckAfterMs while other publishes succeed is
// parked as waiting (the pump retries it from there), so one event cannot hold every key's
// later deltas. Rows arrive page by page (add) while earlier ones are in flight. Writes nothing
// to the database.
import type { Logger } from '../logger.ts';
import { Backoff } from './backoff.ts';
import { RetryTimers } from './retry-timers.ts';
import type { Ack, OutboxRow, Parked } from './outbox.ts';
import { classify, PermanentPublishError, TransientPublishError } from './publish.ts';

export interface LaneRow extends OutboxRow {
  /** The key is blocked by an event parked earlier: park this one as waiting. */
  blocked?: boolean;
}

export interface Acked extends Ack {
  occurredAt: Date;
}

/** Sends one event and resolves with its PubAck; rejects as the NATS client does. */
export type Publisher = (row: OutboxRow) => Promise<{ stream: string; seq: number; duplicate: boolean }>;

export interface LanesOptions {
  publish: Publisher;
  maxInFlight: number;
  /**
   * Retry a transient failure here (a delta), or give the key up for this round and leave its
   * rows where they are (parked events being released: the pump comes back to them).
   */
  retryTransient: boolean;
  /** How long an event may fail transiently, while others succeed, before it is parked (default 30 s). */
  stuckAfterMs?: number;
  /** False once the pump stops or steps down: then the lanes give up (nothing is recorded). */
  mayContinue(): boolean;
  /** False while NATS is not usable: sending pauses until it is again. */
  canPublish(): boolean;
  onAck(ack: Acked): void;
  /** A row parked (failed, or waiting behind its key). */
  onPark?(parked: Parked): void;
  /** A failed publish, transient or permanent. */
  onError(row: OutboxRow, error: Error, permanent: boolean): void;
  log: Logger;
}

interface Lane {
  rows: LaneRow[];
  next: number;
  busy: boolean;
  blocked: boolean;
  backoff?: Backoff;
  /** Since when the head row has been failing transiently. */
  failingSince?: number;
}

/**
 * How long sending pauses after a transient failure, and how long a failed event waits before it
 * is sent again. An unanswered publish (a stream leader election, a reconnect) ends by itself, so
 * it is retried four times a second, and the first ack sends every waiting event again at once:
 * publishing resumes within about 250 ms of the stream's return. A refusal (storage full,
 * account limits) waits for an operator, so it is retried less often. While NATS is unusable
 * (disconnected) only a flag is looked at, every UNUSABLE_MS.
 */
const PAUSE_MS = { base: 100, unansweredCap: 250, refusedCap: 5000 };
const RETRY_MS = { base: 100, unansweredCap: 250, refusedCap: 10_000 };
const UNUSABLE_MS = 250;

export class Lanes {
  readonly parked: Parked[] = [];
  /** Rows of keys given up on for this round (retryTransient false). */
  readonly left: number[] = [];
  private lastAckAt = 0;
  private readonly lanes = new Map<string, Lane>();
  private readonly ready: string[] = [];
  private readyHead = 0;
  private inFlight = 0;
  /** Rows added and not yet acked or parked. */
  private unsettled = 0;
  /** Lanes with rows not yet settled: the most publishes the rows at hand can have in flight. */
  private active = 0;
  private closed = false;
  private aborted = false;
  private pausedUntil = 0;
  private readonly pause = new Backoff(PAUSE_MS.base, PAUSE_MS.refusedCap);
  /** Lanes waiting to retry their head row: the key goes back to the ready queue. */
  private readonly retries = new RetryTimers((key) => {
    if (this.aborted) return;
    this.ready.push(key);
    this.send();
  });
  private timer: NodeJS.Timeout | undefined;
  private finish: ((end: 'done' | 'aborted') => void) | undefined;
  private roomWaiter: { rows: number; resolve: () => void } | undefined;
  private readonly finished: Promise<'done' | 'aborted'>;

  constructor(private readonly o: LanesOptions) {
    this.finished = new Promise((resolve) => (this.finish = resolve));
  }

  /** Rows not yet handed to the client: how far ahead the next page may be read. */
  get queued(): number {
    return this.unsettled - this.inFlight;
  }

  /**
   * The rows at hand cannot fill the window (fewer keys than publishes allowed, say one key with
   * thousands of events): read on, do not wait for them. How much may be held is the caller's
   * bound (delta-run.ts).
   */
  get starved(): boolean {
    return this.active < this.o.maxInFlight;
  }

  /** Every row added so far is acked or parked. */
  get settled(): boolean {
    return this.unsettled === 0;
  }

  add(rows: LaneRow[]): void {
    for (const row of rows) {
      let lane = this.lanes.get(row.ordering_key);
      if (!lane) {
        lane = { rows: [], next: 0, busy: false, blocked: false };
        this.lanes.set(row.ordering_key, lane);
      }
      if (lane.blocked || row.blocked) {
        lane.blocked = true;
        this.park({ id: row.id, key: row.ordering_key, state: 'waiting' });
        continue;
      }
      this.unsettled++;
      if (lane.rows.length === lane.next) this.active++;
      lane.rows.push(row);
      if (!lane.busy && lane.rows.length - lane.next === 1) this.ready.push(row.ordering_key);
    }
    this.send();
  }

  private park(p: Parked): void {
    this.parked.push(p);
    this.o.onPark?.(p);
  }

  /** True once abort() ran, or the pump stopped leading. */
  get gaveUp(): boolean {
    return this.aborted;
  }

  /** Resolves once at most `rows` rows wait to be sent, or the lanes are starved (or gave up): time to read ahead. */
  roomFor(rows: number): Promise<void> {
    if (this.aborted || this.queued <= rows || this.starved) return Promise.resolve();
    return new Promise((resolve) => (this.roomWaiter = { rows, resolve }));
  }

  /** No more rows will be added; resolves when every row is acked or parked, or on abort. */
  close(): Promise<'done' | 'aborted'> {
    this.closed = true;
    this.check();
    return this.finished;
  }

  /** Gives up at once: what is in flight is left to complete unheard. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    clearTimeout(this.timer);
    this.retries.clear();
    this.roomWaiter?.resolve();
    this.finish?.('aborted');
  }

  private check(): void {
    if (this.aborted) return;
    if (!this.o.mayContinue()) return this.abort();
    if (this.closed && this.unsettled === 0) {
      clearTimeout(this.timer);
      this.finish?.('done');
    }
  }

  private wakeAt(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.send(), ms);
  }

  private send(): void {
    this.check();
    if (this.aborted) return;
    const now = Date.now();
    if (now < this.pausedUntil) return this.wakeAt(this.pausedUntil - now);
    if (!this.o.canPublish()) {
      this.pausedUntil = now + UNUSABLE_MS;
      return this.wakeAt(UNUSABLE_MS);
    }
    while (this.inFlight < this.o.maxInFlight && this.readyHead < this.ready.length) {
      const key = this.ready[this.readyHead++]!;
      const lane = this.lanes.get(key)!;
      if (lane.busy || lane.next >= lane.rows.length) continue;
      this.start(key, lane, lane.rows[lane.next]!);
    }
    if (this.roomWaiter && (this.queued <= this.roomWaiter.rows || this.starved)) {
      this.roomWaiter.resolve();
      this.roomWaiter = undefined;
    }
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready.splice(0, this.readyHead);
      this.readyHead = 0;
    }
  }

  private start(key: string, lane: Lane, row: LaneRow): void {
    lane.busy = true;
    this.inFlight++;
    let sent: Promise<{ stream: string; seq: number; duplicate: boolean }>;
    try {
      sent = this.o.publish(row);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (ack) => {
        if (this.aborted) return;
        this.inFlight--;
        lane.busy = false;
        lane.backoff = undefined;
        lane.failingSince = undefined;
        this.lastAckAt = performance.now();
        this.pause.reset();
        this.pausedUntil = 0;
        this.retries.fireAll(); // JetStream answers again: what waits for it need not wait for its timer
        this.o.onAck({ id: row.id, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate, occurredAt: row.occurred_at });
        this.advance(key, lane);
      },
      (err) => {
        if (this.aborted) return;
        this.inFlight--;
        lane.busy = false;
        this.failed(key, lane, row, err);
      },
    );
  }

  /** The lane's head row is settled: move on to its next row. */
  private advance(key: string, lane: Lane): void {
    this.unsettled--;
    lane.next++;
    if (lane.next >= lane.rows.length) {
      this.active--;
      this.lanes.delete(key); // a later page may bring more rows of this key: a fresh lane
    } else {
      // A key with many rows keeps receiving pages while it drains: drop what it has sent.
      if (lane.next > 1024 && lane.next * 2 > lane.rows.length) {
        lane.rows.splice(0, lane.next);
        lane.next = 0;
      }
      this.ready.push(key);
    }
    this.send();
  }

  /** Takes the lane's remaining rows out: parked with `state`, or left for another round. */
  private takeOut(key: string, lane: Lane, head: Parked | undefined): void {
    const rest = lane.rows.slice(head ? lane.next + 1 : lane.next);
    if (head) this.park(head);
    if (this.o.retryTransient || head) {
      lane.blocked = true;
      for (const r of rest) this.park({ id: r.id, key, state: 'waiting' });
    } else {
      for (const r of lane.rows.slice(lane.next)) this.left.push(r.id);
      this.lanes.delete(key);
    }
    this.unsettled -= lane.rows.length - lane.next;
    if (lane.rows.length > lane.next) this.active--;
    lane.rows.length = lane.next = 0;
    this.send();
  }

  private failed(key: string, lane: Lane, row: LaneRow, err: unknown): void {
    const failure = err instanceof PermanentPublishError || err instanceof TransientPublishError ? err : classify(err);
    this.o.onError(row, failure, failure instanceof PermanentPublishError);
    if (failure instanceof PermanentPublishError) {
      // Order per key is the consumer's contract: the key's later events wait for an operator.
      return this.takeOut(key, lane, { id: row.id, key, state: 'failed', error: failure.message });
    }
    if (!this.o.retryTransient) return this.takeOut(key, lane, undefined);
    const now = performance.now();
    lane.failingSince ??= now;
    if (now - lane.failingSince > (this.o.stuckAfterMs ?? 30_000) && this.lastAckAt > lane.failingSince) {
      // Failing for a while when others go through: not NATS, this event. Park it so the delta
      // can be recorded and the other keys' next events flow; the pump retries it from there.
      this.o.log.warn('event parked after failing transiently while others were published', { outbox_id: row.id, ordering_key: key, error: failure.message });
      return this.takeOut(key, lane, { id: row.id, key, state: 'waiting', error: failure.message });
    }
    // Transient: the same row again after a while; its key's later rows wait for it.
    lane.backoff ??= new Backoff(RETRY_MS.base, failure.unanswered ? RETRY_MS.unansweredCap : RETRY_MS.refusedCap);
    const delay = lane.backoff.next();
    // Not this message's trouble (classify): every key would meet it, so sending pauses for all.
    const pause = Math.min(this.pause.next(), failure.unanswered ? PAUSE_MS.unansweredCap : PAUSE_MS.refusedCap);
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + pause);
    this.retries.schedule(key, delay);
    this.send();
  }
}
