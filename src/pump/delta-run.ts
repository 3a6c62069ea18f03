// Publishing deltas, for the delivery loop (delivery.ts): the next delta (or the rest of one
// recorded part way), page by page with the next page read while the current one is in flight,
// and the deltas after it while its last keys still drain, so a key with thousands of events
// (a stale-task sweep under one workstream) does not hold every other key's later events. The
// lanes publish; the chain (progress.ts) records the deltas in order.
import type { Db } from '../db.ts';
import { sleep } from './backoff.ts';
import type { Bookkeeping } from './bookkeeping.ts';
import type { BusyFlag } from './busy-flag.ts';
import { openDelta, type DeltaReader } from './delta.ts';
import type { Acked, Lanes } from './lanes.ts';
import type { Parked } from './outbox.ts';
import { DeltaChain } from './progress.ts';

/** While only long lanes are left, how often to look for the next delta. */
const DRAIN_POLL_MS = 10;
/** Rows held at most (read and not recorded), in pages: bounds memory when one key holds most of them. */
const READ_AHEAD_PAGES = 16;
/**
 * A chain opens no new delta after this long: it then ends once its lanes drain, so released
 * parked events (requeue, skip, retries) get their turn under steady traffic too.
 */
const CHAIN_MAX_MS = 5000;

export interface DeltaRun {
  db: Db;
  batchSize: number;
  book: Bookkeeping;
  busy: BusyFlag;
  /** New lanes (retrying transient failures) reporting to these. */
  lanes(onAck: (a: Acked) => void, onPark: (p: Parked) => void): Lanes;
  /**
   * Resolves true once the delta read at WAL position `lsn` may be published (enough standbys
   * have it: PUMP_WAIT_FOR_STANDBYS), false when the pump gives up first (stopping, stepped down).
   */
  mayPublish(lsn: string): Promise<boolean>;
  stopping(): boolean;
}

/** Publishes the deltas there are; false when there was none. */
export async function deliverDeltas(r: DeltaRun): Promise<boolean> {
  const progress = await r.book.current();
  const resume = progress.partial ? { snapshot: progress.partial.snapshot, afterId: progress.partial.throughId } : undefined;
  let reader = await openDelta(r.db, progress.snapshot, r.batchSize, resume);
  if (!reader) {
    if (!resume) return false;
    progress.complete(resume.snapshot); // nothing after the recorded part: the delta is done
    await r.book.record();
    return true;
  }
  await r.busy.set(true);
  const chain = new DeltaChain();
  const until = Date.now() + CHAIN_MAX_MS;
  const lanes = r.lanes((a) => chain.acked(a), (p) => chain.parked(p));
  while (reader) {
    // Before the chain takes the delta: one given up here stays wholly unpublished and unrecorded.
    if (!(await r.book.recordingWhile(r.mayPublish(reader.delta.lsn), chain))) break;
    chain.start(reader.delta.snapshot);
    for (let page = await reader.next(); page; page = await reader.next()) {
      chain.added(page);
      lanes.add(page);
      // Read the next page while this one is still in flight: the window never runs dry.
      await r.book.recordingWhile(lanes.roomFor(r.batchSize), chain);
      if (lanes.gaveUp) break;
      await r.book.recordPart(chain);
      await roomToHold(r, lanes, chain);
    }
    if (lanes.gaveUp) break;
    chain.readAll();
    reader = await nextWhileDraining(r, lanes, reader.delta.snapshot, chain, until);
  }
  const end = await r.book.recordingWhile(lanes.close(), chain);
  const done = r.book.known;
  if (end === 'aborted' || !done) return true; // the rest is published again, by whoever leads
  chain.harvest(done);
  // Parked events are recorded at once: the next delta must see their keys blocked.
  if (r.book.due || done.parked.length > 0) await r.book.record();
  return true;
}

/** Waits while the chain holds its fill of rows read and not recorded (a long key ahead of them). */
async function roomToHold(r: DeltaRun, lanes: Lanes, chain: DeltaChain): Promise<void> {
  while (chain.held >= r.batchSize * READ_AHEAD_PAGES && !lanes.settled && !lanes.gaveUp) {
    await sleep(DRAIN_POLL_MS);
    await r.book.recordPart(chain);
  }
}

/**
 * While the rows at hand drain: the delta committed after `snapshot` once the lanes can take
 * more (starved) and the chain holds few enough rows, or undefined once every row is settled
 * (or the lanes gave up, or stopping). Records what settles meanwhile, as a page would.
 */
async function nextWhileDraining(r: DeltaRun, lanes: Lanes, snapshot: string, chain: DeltaChain, until: number): Promise<DeltaReader | undefined> {
  for (;;) {
    if (lanes.settled || lanes.gaveUp || r.stopping()) return undefined;
    if (lanes.starved && chain.held < r.batchSize * READ_AHEAD_PAGES && Date.now() < until) {
      const next = await openDelta(r.db, snapshot, r.batchSize);
      if (next) return next;
    }
    await sleep(DRAIN_POLL_MS);
    await r.book.recordPart(chain);
  }
}
