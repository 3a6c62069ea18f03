// 2. Capture-to-ack latency: 500 workstream completions per second for 60 s (10 s in quick
// mode), each its own transaction (BEGIN; UPDATE ... SET status = 'completed'; COMMIT) on a
// pool of 16 connections, scheduled open-loop (a slow commit does not delay the next one).
// t0 = the moment COMMIT returned to the writer; t1 = the moment the event arrived at an
// ordered consumer on org.statehub.workstream.completed in the same process (same clock), i.e.
// after the pump published it and JetStream stored it.
// Baseline, same run (20 s, 5 s quick): the same transactions with capture disabled, the writer
// publishing the same kind of envelope itself right after COMMIT, to a stream of the same
// configuration, measured by the same kind of consumer: the floor of commit -> JetStream.
import { randomUUID } from 'node:crypto';
import { RetentionPolicy, StorageType } from 'nats';
import type pg from 'pg';
import { benchDatabase, benchNats, natsConnection, seedWorkstreams, startPumpChild } from './lib/env.ts';
import { nowMs, percentile, round, sleep } from './lib/stats.ts';
import { subscribe } from './lib/subscriber.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

const RATE = 500;

interface Outcome {
  latencies: number[];
  issued: number;
  achievedRate: number;
  missing: number;
}

/** Runs `transition(id)` RATE times per second for `seconds`; returns commit times by id. */
async function drive(pool: pg.Pool, ids: { next: number }, seconds: number, after?: (id: number) => void): Promise<{ commits: Map<number, number>; issued: number; rate: number }> {
  const commits = new Map<number, number>();
  const total = RATE * seconds;
  const interval = 1000 / RATE;
  const t0 = nowMs();
  const inflight = new Set<Promise<void>>();
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - nowMs();
    if (wait > 1) await sleep(wait);
    const id = ids.next++;
    const p = (async () => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1`, [id]);
        await client.query('COMMIT');
        commits.set(id, nowMs());
      } finally {
        client.release();
      }
      after?.(id);
    })();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  return { commits, issued: total, rate: (total / (nowMs() - t0)) * 1000 };
}

export const latencyBench: Bench = {
  name: 'latency',
  title: `Capture-to-ack latency at ${RATE} transitions/s through SQL`,
  async run(ctx: BenchContext): Promise<Figure[]> {
    const seconds = ctx.quick ? 10 : 60;
    const baseSeconds = ctx.quick ? 5 : 20;
    const db = await benchDatabase(ctx.cleanup, 16);
    const nats = await benchNats(ctx.cleanup);
    const ws = await seedWorkstreams(db.pool, RATE * (seconds + baseSeconds + 4), 'planned', 'lat');
    await db.pool.query('VACUUM (ANALYZE)');
    const ids = { next: ws.first };
    const pump = await startPumpChild(ctx.cleanup, { DATABASE_URL: db.url, NATS_URL: nats.url, STREAM_NAME: 'BENCH_LATENCY' });
    await pump.waitForLog((l) => l.message === 'became leader: publishing');
    const nc = await natsConnection(ctx.cleanup, nats.url, 'statehub-bench-latency');
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'BENCH_DIRECT', subjects: ['direct.>'], storage: StorageType.File, retention: RetentionPolicy.Limits });
    const js = nc.jetstream({ timeout: 5000 });

    async function measure(kind: 'pump' | 'direct', secs: number): Promise<Outcome> {
      const arrivals = new Map<number, number>();
      const sub =
        kind === 'pump'
          ? await subscribe(nc, 'BENCH_LATENCY', 'org.statehub.workstream.completed', (m, at) => {
              arrivals.set((m.attributes as { workstream_id: number }).workstream_id, at);
            })
          : await subscribe(nc, 'BENCH_DIRECT', 'direct.workstream.completed', (m, at) => arrivals.set(m.workstream_id as number, at));
      await sleep(200); // the consumer is in place before the first event
      const encoder = new TextEncoder();
      const publishes: Promise<unknown>[] = [];
      const driven = await drive(
        db.pool,
        ids,
        secs,
        kind === 'direct'
          ? (id) =>
              publishes.push(
                js.publish('direct.workstream.completed', encoder.encode(JSON.stringify({ id: randomUUID(), type: 'org.statehub.workstream.completed', workstream_id: id })), {
                  msgID: randomUUID(),
                }),
              )
          : undefined,
      );
      await Promise.all(publishes);
      const deadline = Date.now() + 30_000;
      while (arrivals.size < driven.commits.size && Date.now() < deadline) await sleep(50);
      await sub.stop();
      const latencies: number[] = [];
      for (const [id, committed] of driven.commits) {
        const at = arrivals.get(id);
        if (at !== undefined) latencies.push(at - committed);
      }
      return { latencies, issued: driven.issued, achievedRate: driven.rate, missing: driven.commits.size - latencies.length };
    }

    // Warm-up, discarded.
    await measure('pump', 2);
    await db.pool.query(`ALTER TABLE statehub.workstreams DISABLE TRIGGER _500_capture_workstream_completed`);
    let direct: Outcome;
    try {
      direct = await measure('direct', baseSeconds);
    } finally {
      await db.pool.query(`ALTER TABLE statehub.workstreams ENABLE TRIGGER _500_capture_workstream_completed`);
    }
    ctx.log(`baseline (direct publish after commit): p50 ${round(percentile(direct.latencies, 50))} ms, p99 ${round(percentile(direct.latencies, 99))} ms`);
    const pumped = await measure('pump', seconds);
    ctx.log(`pump: p50 ${round(percentile(pumped.latencies, 50))} ms, p99 ${round(percentile(pumped.latencies, 99))} ms, max ${round(Math.max(...pumped.latencies))} ms`);
    if (pumped.missing) throw new Error(`${pumped.missing} events did not arrive within 30 s`);

    const figures: Figure[] = [];
    const goals: Record<string, number | undefined> = { p50: 3, p99: 15, max: undefined };
    for (const [name, p] of [['p50', 50], ['p99', 99], ['max', 100]] as const) {
      const value = percentile(pumped.latencies, p);
      const base = percentile(direct.latencies, p);
      const goal = goals[name];
      figures.push({
        bench: 'latency',
        metric: `commit -> subscriber ${name} (${pumped.latencies.length} events, ${round(pumped.achievedRate, 0)}/s for ${seconds} s)`,
        value: round(value),
        unit: 'ms',
        baseline: { name: 'direct publish after commit', value: round(base) },
        ratio: round(value / base, 2),
        ...(goal === undefined ? {} : { goal: `<= ${goal} ms`, met: value <= goal }),
        runs: 1,
        detail: {
          note: 'ratio = pump latency / baseline latency (lower is better); one run of the whole duration, percentiles over all events',
          min: round(Math.min(...pumped.latencies)),
          p90: round(percentile(pumped.latencies, 90)),
          p999: round(percentile(pumped.latencies, 99.9)),
          baselineEvents: direct.latencies.length,
          baselineSeconds: baseSeconds,
        },
      });
    }
    return figures;
  },
};
