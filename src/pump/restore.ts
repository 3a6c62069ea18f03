// Publishing again what the stream lost after acknowledging it, for the delivery loop: the
// watch over the PubAcks' sequences, and the round that re-publishes (lost-acks.ts says why
// and what). The loop asks before each delta, so the lost events go before the new ones.
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { HealthLog, sleep } from './backoff.ts';
import type { JetStreamLink } from './jetstream.ts';
import type { Acked, Lanes } from './lanes.ts';
import { measureLost, readLost, restorePlan, SequenceWatch, type Lost, type RestorePlan } from './lost-acks.ts';
import type { PumpMetrics } from './metrics.ts';

export interface RestorerOptions {
  db: Db;
  log: Logger;
  metrics: PumpMetrics;
  batchSize: number;
  /** What JetStream says of the stream; undefined without NATS. */
  stream?: Pick<JetStreamLink, 'streamCreatedAt' | 'streamNow'>;
  /** Lanes that retry transient failures and keep their acks out of the latency histogram. */
  lanes(onAck: (a: Acked) => void): Lanes;
  /** The delta given up on is published again from what was recorded. */
  forgetPosition(): void;
  signal: AbortSignal;
}

export class Restorer {
  private readonly sequences = new SequenceWatch();
  private readonly looks: HealthLog;

  constructor(private readonly o: RestorerOptions) {
    this.looks = new HealthLog(o.log, 'looking at the JetStream stream to publish what it lost');
  }

  /** Takes a PubAck; true when it shows the stream lost what it acknowledged (the lanes should stop). */
  observe(ack: Acked): boolean {
    // A stream seen created anew since (deleted meanwhile) starts its own numbering.
    const created = this.o.stream?.streamCreatedAt;
    if (created !== this.sequences.created) this.sequences.restart(created);
    return this.sequences.observe(ack);
  }

  /** Something to publish again. */
  get pending(): boolean {
    return this.sequences.lost !== undefined;
  }

  /** Stopping: says what is left to publish again, if anything. */
  stopping(): void {
    const lost = this.sequences.lost;
    if (lost) this.o.log.error('stopping before the events the stream lost were published again: publish them with statehub replay', lostContext(lost));
  }

  /** Publishes again what this pump passed since the loss began (lost-acks.ts). */
  async restore(): Promise<void> {
    const lost = this.sequences.lost;
    if (!lost || !this.o.stream) return;
    const context = lostContext(lost);
    let now;
    try {
      now = await this.o.stream.streamNow();
    } catch (err) {
      this.looks.failing(err, context); // once; the loop asks again, new deltas wait meanwhile
      await sleep(250, this.o.signal);
      return;
    }
    this.looks.ok();
    if (now.createdAt !== this.sequences.created) {
      this.o.log.warn('JetStream stream was created anew: what it held before is not published again (statehub replay does that)', context);
      this.sequences.restart(now.createdAt);
      return;
    }
    this.o.forgetPosition();
    const plan = await restorePlan(this.o.db, lost, now.createdAt, now.duplicateWindowMs);
    const { events, firstOccurred } = await measureLost(this.o.db, plan);
    const hint = { ...context, events, replay_since: firstOccurred?.toISOString() };
    this.o.log.error('JetStream lost events it had acknowledged: publishing them again (JetStream drops those it still has)', hint);
    if (plan.older > 0) {
      this.o.log.error('some lost events were passed before the duplicate window: not published again; publish them with statehub replay', { ...context, batches: plan.older });
    }
    const outcome = await this.publishAgain(plan);
    if (outcome === 'cut short') {
      // Kept: this pump starts over when it leads again.
      this.o.log.error('publishing the lost events again was cut short (stopping, or no longer leading): publish them with statehub replay --since', hint);
      return;
    }
    if (outcome.notPublished.length > 0) {
      this.o.log.error('some lost events could not be published again: publish them with statehub replay', { ...context, outbox_ids: outcome.notPublished.slice(0, 100) });
    }
    if (events === 0) this.o.log.info('none of the lost events was recorded yet: they go again with the delta given up on', context);
    else this.o.log.info('the events the stream had lost are in it again', { ...context, stored: outcome.stored });
    this.sequences.restored();
  }

  /** Publishes the plan's events page by page, released ones first (each is older than what follows on its key). */
  private async publishAgain(plan: RestorePlan): Promise<'cut short' | { stored: number; notPublished: number[] }> {
    let stored = 0;
    const notPublished: number[] = [];
    for (const part of ['released', 'passed'] as const) {
      for (let afterId = 0; ; ) {
        const rows = await readLost(this.o.db, plan, part, afterId, this.o.batchSize);
        if (rows.length === 0) break;
        const lanes = this.o.lanes((a) => {
          if (a.duplicate) return;
          stored++;
          this.o.metrics.restored++;
        });
        lanes.add(rows);
        if ((await lanes.close()) === 'aborted') return 'cut short';
        notPublished.push(...lanes.parked.map((p) => p.id), ...lanes.left);
        afterId = rows.at(-1)!.id;
      }
    }
    return { stored, notPublished };
  }
}

function lostContext(lost: Lost) {
  return { stream: lost.stream, from_seq: lost.fromSeq, through_seq: lost.throughSeq };
}
