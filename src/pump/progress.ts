// What the pump has delivered and not recorded yet, and what the next batch row will say.
// Rows are recorded in id order only: a delta's events settle (ack or park) out of order, one
// lane per key, so the Watermark hands over the settled prefix, and a batch row recorded part
// way through a delta says "delivered through id N" (a large delta is recorded about once a
// second while it is published; a crash re-publishes only what came after).
import type { Ack, BatchRecord, Parked, Partial, Position } from './outbox.ts';

/** PubAcks counted, not kept: a delta may hold millions. */
export class AckTally {
  published = 0;
  duplicates = 0;
  readonly streams = new Set<string>();
  firstSeq = Infinity;
  lastSeq = -Infinity;

  add(a: Ack): void {
    this.published++;
    if (a.duplicate) this.duplicates++;
    this.streams.add(a.stream);
    if (a.seq < this.firstSeq) this.firstSeq = a.seq;
    if (a.seq > this.lastSeq) this.lastSeq = a.seq;
  }
}

type Settled = { ack: Ack } | { parked: Parked };

/** The settled prefix of a delta's rows, in id order. */
export class Watermark {
  private readonly ids: number[] = [];
  private head = 0;
  private readonly settled = new Map<number, Settled>();

  /** Rows handed to the lanes, in id order. */
  added(rows: Array<{ id: number }>): void {
    for (const r of rows) this.ids.push(r.id);
  }

  acked(a: Ack): void {
    this.settled.set(a.id, { ack: a });
  }

  parked(p: Parked): void {
    this.settled.set(p.id, { parked: p });
  }

  /** Rows added and not harvested yet (settled or not). */
  get held(): number {
    return this.ids.length - this.head;
  }

  /** Moves over the settled prefix, handing each row to `progress`; returns the last id passed. */
  harvest(progress: Progress): number | undefined {
    let last: number | undefined;
    while (this.head < this.ids.length) {
      const id = this.ids[this.head]!;
      const s = this.settled.get(id);
      if (!s) break;
      this.settled.delete(id);
      progress.take(id, s);
      last = id;
      this.head++;
    }
    if (this.head > 4096 && this.head * 2 > this.ids.length) {
      this.ids.splice(0, this.head);
      this.head = 0;
    }
    return last;
  }
}

/**
 * The deltas in flight, oldest first. A delta is read in full before the next is opened, but
 * the next may open while the last rows of earlier ones are still being published (a key with
 * thousands of events drains one at a time; the other keys' later events must not wait for it).
 * Deltas are still recorded in order: the oldest through its settled prefix, and complete only
 * when every row of it is settled; a younger one's settled rows wait for that.
 */
export class DeltaChain {
  private readonly open: Array<{ snapshot: string; mark: Watermark; read: boolean }> = [];
  /** The delta each unsettled row belongs to (ids of a later delta can be lower: late commits). */
  private readonly markOf = new Map<number, Watermark>();

  /** Opens the next delta (the previous one must be fully read). */
  start(snapshot: string): void {
    this.open.push({ snapshot, mark: new Watermark(), read: false });
  }

  /** Rows of the newest delta handed to the lanes, in id order. */
  added(rows: Array<{ id: number }>): void {
    const newest = this.open[this.open.length - 1]!;
    newest.mark.added(rows);
    for (const r of rows) this.markOf.set(r.id, newest.mark);
  }

  /** The newest delta has no more rows to read. */
  readAll(): void {
    this.open[this.open.length - 1]!.read = true;
  }

  acked(a: Ack): void {
    this.markOf.get(a.id)?.acked(a);
    this.markOf.delete(a.id);
  }

  parked(p: Parked): void {
    this.markOf.get(p.id)?.parked(p);
    this.markOf.delete(p.id);
  }

  /** Hands what is settled, in order, to `progress`: complete deltas, then the oldest open one's prefix. */
  harvest(progress: Progress): void {
    while (this.open.length > 0) {
      const oldest = this.open[0]!;
      const through = oldest.mark.harvest(progress);
      if (oldest.read && oldest.mark.held === 0) {
        progress.complete(oldest.snapshot);
        this.open.shift();
        continue;
      }
      if (through !== undefined) progress.through(oldest.snapshot, through);
      return;
    }
  }

  /** Rows of the open deltas not handed to the progress yet: what the chain holds in memory. */
  get held(): number {
    return this.open.reduce((n, d) => n + d.mark.held, 0);
  }
}

/**
 * Since the last recorded batch: the snapshot fully delivered, the delta under way (if any) and
 * how far through it, and the counts, parked events and sequences of what was passed.
 */
export class Progress {
  snapshot: string;
  partial: Partial | undefined;
  events = 0;
  readonly parked: Parked[] = [];
  firstId: number | null = null;
  lastId: number | null = null;
  private readonly acks = new AckTally();
  readonly startedAt = new Date();

  constructor(readonly previous: Position) {
    this.snapshot = previous.snapshot;
    this.partial = previous.partial;
  }

  /** Whether there is anything the last batch row does not say. */
  get changed(): boolean {
    return this.events > 0 || this.snapshot !== this.previous.snapshot || this.partial?.throughId !== this.previous.partial?.throughId;
  }

  take(id: number, s: Settled): void {
    this.events++;
    if ('ack' in s) this.acks.add(s.ack);
    else this.parked.push(s.parked);
    this.firstId = this.firstId === null ? id : Math.min(this.firstId, id);
    this.lastId = this.lastId === null ? id : Math.max(this.lastId, id);
  }

  /** The delta toward `snapshot` is delivered through `throughId`. */
  through(snapshot: string, throughId: number): void {
    this.partial = { snapshot, throughId };
  }

  /** The delta toward `snapshot` is delivered in full. */
  complete(snapshot: string): void {
    this.snapshot = snapshot;
    this.partial = undefined;
  }

  get record(): BatchRecord {
    const a = this.acks;
    const stream = a.streams.size === 1 ? [...a.streams][0]! : null;
    return {
      previous: this.previous,
      snapshot: this.snapshot,
      ...(this.partial ? { partial: this.partial } : {}),
      events: this.events,
      published: a.published,
      duplicates: a.duplicates,
      parked: this.parked,
      firstId: this.firstId,
      lastId: this.lastId,
      stream,
      firstSeq: stream ? a.firstSeq : null,
      lastSeq: stream ? a.lastSeq : null,
      startedAt: this.startedAt,
    };
  }
}
