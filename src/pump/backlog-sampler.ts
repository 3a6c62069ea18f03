// The backlog gauges, read in the background: one query at a time, at most once per interval,
// whatever the scrape rate. A scrape serves the last good reading with its age and whether the
// last attempt worked; it never touches the database, so a slow or failing backlog query makes
// the gauges stale (and says so), never absent or slow.
import type { Logger } from '../logger.ts';
import { HealthLog, sleep } from './backoff.ts';
import type { Backlog } from './backlog.ts';

export interface BacklogReading {
  /** The last good reading, and when it was taken; undefined before the first. */
  last?: { backlog: Backlog; at: number };
  /** Whether the last attempt succeeded (false before the first attempt ends). */
  up: boolean;
}

export class BacklogSampler {
  private reading: BacklogReading = { up: false };
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private readonly health: HealthLog;

  constructor(
    private readonly read: () => Promise<Backlog>,
    private readonly intervalMs: number,
    log: Logger,
  ) {
    this.health = new HealthLog(log, 'backlog metrics query');
  }

  get current(): BacklogReading {
    return this.reading;
  }

  start(): void {
    this.running ??= this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      const started = Date.now();
      try {
        const backlog = await this.read();
        this.reading = { last: { backlog, at: Date.now() }, up: true };
        this.health.ok();
      } catch (err) {
        this.reading = { ...this.reading, up: false };
        this.health.failing(err);
      }
      await sleep(Math.max(0, this.intervalMs - (Date.now() - started)), this.stopping.signal);
    }
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }
}
