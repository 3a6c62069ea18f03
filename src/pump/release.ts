// Publishing the parked events an operator released (requeue, skip) or that wait after a
// transient failure, for the delivery loop: those that may go now (outbox.ts readReleasable),
// once the standbys have what was committed (PUMP_WAIT_FOR_STANDBYS), and what became of them
// recorded. When the loop looks is ReleasePace's to say.
import type { Db } from '../db.ts';
import type { BusyFlag } from './busy-flag.ts';
import type { Acked, Lanes } from './lanes.ts';
import { readReleasable, settleReleased } from './outbox.ts';
import type { ReleasePace } from './release-pace.ts';

export interface ReleaseRun {
  db: Db;
  batchSize: number;
  pace: ReleasePace;
  /** Resolves true once they may be published (enough standbys), false when the pump gives up first. */
  mayPublish(): Promise<boolean>;
  busy: BusyFlag;
  /** Lanes that give a transiently failing key up for this round (its rows stay waiting). */
  lanes(onAck: (a: Acked) => void): Lanes;
}

/** Publishes the parked events that may go now and records what became of them; true when some were published. */
export async function releaseParked(r: ReleaseRun): Promise<boolean> {
  const rows = await readReleasable(r.db, r.batchSize);
  if (rows.length === 0) return false;
  if (!(await r.mayPublish())) return false;
  await r.busy.set(true);
  const acks: Acked[] = [];
  const lanes = r.lanes((a) => acks.push(a));
  lanes.add(rows);
  await lanes.close();
  // Also after an abort: what was acked is published, whoever leads next.
  await settleReleased(r.db, acks, lanes.parked.filter((p) => p.state === 'failed').map((p) => ({ id: p.id, error: p.error! })));
  // Those still failing transiently stay waiting (lanes.left): they are tried again later.
  r.pace.settled(acks.length > 0, lanes.left.length > 0);
  return acks.length > 0;
}
