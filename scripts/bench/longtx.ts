// 8. A long transaction does not hold delivery back. A transaction completes one workstream (its
// outbox row takes a low id) and stays open for 30 s (8 s quick). Meanwhile 100,000 completions
// (20,000 quick) commit in transactions of 1,000. Measured: commit -> subscriber latency of those
// events, the time until all of them arrived, and the held event's own latency once it commits.
// Baseline, same run: the same 100,000 completions with no transaction held open.
import pg from 'pg';
import { benchDatabase, benchNats, natsConnection, seedWorkstreams, startPumpChild } from './lib/env.ts';
import { nowMs, percentile, round, sleep } from './lib/stats.ts';
import { subscribe } from './lib/subscriber.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

const STREAM = 'BENCH_LONGTX';
const PER_TX = 1000;

export const longTxBench: Bench = {
  name: 'longtx',
  title: 'A 100,000-event backlog behind a transaction held open for 30 s',
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = ctx.quick ? 20_000 : 100_000;
    const holdMs = ctx.quick ? 8000 : 30_000;
    const db = await benchDatabase(ctx.cleanup, 4);
    const nats = await benchNats(ctx.cleanup);
    const ws = await seedWorkstreams(db.pool, 2 * size + 1, 'planned', 'longtx');
    await db.pool.query('VACUUM (ANALYZE)');
    const pump = await startPumpChild(ctx.cleanup, { DATABASE_URL: db.url, NATS_URL: nats.url, STREAM_NAME: STREAM });
    await pump.waitForLog((l) => l.message === 'became leader: publishing');
    const nc = await natsConnection(ctx.cleanup, nats.url, 'statehub-bench-longtx');

    async function run(first: number, hold: boolean): Promise<{ latencies: number[]; drainMs: number; heldMs?: number }> {
      const arrivals = new Map<number, number>();
      const sub = await subscribe(nc, STREAM, 'org.statehub.workstream.completed', (m, at) => {
        arrivals.set((m.attributes as { workstream_id: number }).workstream_id, at);
      });
      await sleep(200);
      const held = hold ? new pg.Client({ connectionString: db.url }) : undefined;
      const heldId = ws.last;
      let heldCommit = 0;
      const heldStarted = nowMs();
      try {
        if (held) {
          await held.connect();
          await held.query('BEGIN');
          await held.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1`, [heldId]);
        }
        const commits = new Map<number, number>();
        const t0 = nowMs();
        for (let from = first; from < first + size; from += PER_TX) {
          await db.pool.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE id BETWEEN $1 AND $2`, [from, from + PER_TX - 1]);
          const at = nowMs();
          for (let id = from; id < from + PER_TX; id++) commits.set(id, at);
        }
        const deadline = Date.now() + 300_000;
        while ([...commits.keys()].some((id) => !arrivals.has(id)) && Date.now() < deadline) await sleep(50);
        const drainMs = Math.max(...[...commits.keys()].map((id) => arrivals.get(id) ?? Number.NaN)) - t0;
        if (!Number.isFinite(drainMs)) throw new Error('not every event arrived within 5 minutes');
        let heldMs: number | undefined;
        if (held) {
          if (arrivals.has(heldId)) throw new Error('the held transaction\'s event arrived before it committed');
          await sleep(Math.max(0, holdMs - (nowMs() - heldStarted)));
          await held.query('COMMIT');
          heldCommit = nowMs();
          while (!arrivals.has(heldId) && Date.now() < deadline) await sleep(5);
          heldMs = arrivals.get(heldId)! - heldCommit;
        }
        const latencies = [...commits].map(([id, at]) => arrivals.get(id)! - at);
        return { latencies, drainMs, heldMs };
      } finally {
        await held?.end().catch(() => undefined);
        await sub.stop();
      }
    }

    const base = await run(ws.first, false);
    ctx.log(`no transaction held: drained in ${round(base.drainMs, 0)} ms, p50 ${round(percentile(base.latencies, 50))} ms, p99 ${round(percentile(base.latencies, 99))} ms`);
    const held = await run(ws.first + size, true);
    ctx.log(`transaction held ${holdMs / 1000} s: drained in ${round(held.drainMs, 0)} ms, p50 ${round(percentile(held.latencies, 50))} ms, p99 ${round(percentile(held.latencies, 99))} ms; the held event ${round(held.heldMs!)} ms after its commit`);
    const fig = (metric: string, value: number, baseline: number, unit = 'ms'): Figure => ({
      bench: 'longtx',
      metric,
      value: round(value),
      unit,
      baseline: { name: 'same, no transaction held open', value: round(baseline) },
      ratio: round(value / baseline, 2),
      runs: 1,
    });
    return [
      fig(`${size} events behind a ${holdMs / 1000} s transaction: all arrived`, held.drainMs, base.drainMs),
      fig('… commit -> subscriber p50', percentile(held.latencies, 50), percentile(base.latencies, 50)),
      fig('… commit -> subscriber p99', percentile(held.latencies, 99), percentile(base.latencies, 99)),
      { bench: 'longtx', metric: '… the held transaction\'s own event, commit -> subscriber', value: round(held.heldMs!), unit: 'ms', runs: 1 },
    ];
  },
};
