// 6. Recovery.
//   NATS restart: with a pump running, stop the private nats-server (SIGTERM, store kept),
//   complete 10,000 workstreams (2,000 quick) in one statement, wait 2 s, start nats-server
//   again on the same port and store; time from the restart to the outbox being drained.
//   Baseline: the same backlog drained with NATS up (from the COMMIT to drained).
//   Pump failover: two pump children; SIGKILL the leader and commit one transition at once;
//   time until that event reaches a subscriber (so: the standby took the lock, drained, and
//   JetStream acked). Baseline: one transition's commit -> subscriber time with a live leader.
import type pg from 'pg';
import { benchDatabase, benchNats, natsConnection, pendingCount, seedWorkstreams, startPumpChild, until, type PumpChild } from './lib/env.ts';
import { median, nowMs, round, sleep } from './lib/stats.ts';
import { subscribe } from './lib/subscriber.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

const STREAM = 'BENCH_RECOVERY';

export const recoveryBench: Bench = {
  name: 'recovery',
  title: 'Recovery: NATS restart to backlog drained; pump SIGKILL to a standby publishing',
  async run(ctx: BenchContext): Promise<Figure[]> {
    const backlog = ctx.quick ? 2000 : 10_000;
    const db = await benchDatabase(ctx.cleanup, 4);
    const nats = await benchNats(ctx.cleanup);
    const ws = await seedWorkstreams(db.pool, (backlog + 10) * 2 * ctx.runs + 100, 'planned', 'rec');
    let next = ws.first;
    const vars = { DATABASE_URL: db.url, NATS_URL: nats.url, STREAM_NAME: STREAM };
    let leader: PumpChild = await startPumpChild(ctx.cleanup, vars);
    await leader.waitForLog((l) => l.message === 'became leader: publishing');

    const complete = async (pool: pg.Pool, n: number): Promise<{ first: number; committedAt: number }> => {
      const first = next;
      next += n;
      await pool.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE id >= $1 AND id < $2`, [first, first + n]);
      return { first, committedAt: nowMs() };
    };
    const drained = () => until(async () => (await pendingCount(db.pool)) === 0, 'the outbox to drain', 120_000, 10);

    // NATS restart.
    const restart: number[] = [];
    const steady: number[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const { committedAt } = await complete(db.pool, backlog);
      await drained();
      steady.push(nowMs() - committedAt);
      await nats.stop();
      await complete(db.pool, backlog);
      await sleep(2000);
      const t0 = nowMs();
      await nats.start();
      await drained();
      restart.push(nowMs() - t0);
      ctx.log(`run ${i + 1}/${ctx.runs} ${backlog} events: drained ${round(steady.at(-1)!, 0)} ms with NATS up, ${round(restart.at(-1)!, 0)} ms after a NATS restart`);
    }

    // Failover.
    const nc = await natsConnection(ctx.cleanup, nats.url, 'statehub-bench-recovery');
    const arrivals = new Map<number, number>();
    const sub = await subscribe(nc, STREAM, 'org.statehub.workstream.completed', (m, at) => arrivals.set((m.attributes as { workstream_id: number }).workstream_id, at));
    ctx.cleanup.defer('recovery subscriber', () => sub.stop());
    await sleep(200);
    const arrival = async (id: number) => {
      await until(async () => arrivals.has(id), `event for workstream ${id}`, 60_000, 2);
      return arrivals.get(id)!;
    };
    const live: number[] = [];
    const failover: number[] = [];
    let standby = await startPumpChild(ctx.cleanup, vars);
    for (let i = 0; i < ctx.runs; i++) {
      await sleep(1500); // both settled: the leader idle, the standby polling the lock
      const a = await complete(db.pool, 1);
      live.push((await arrival(a.first)) - a.committedAt);
      const t0 = nowMs();
      await leader.kill();
      const b = await complete(db.pool, 1);
      failover.push((await arrival(b.first)) - t0);
      ctx.log(`run ${i + 1}/${ctx.runs} live leader ${round(live.at(-1)!, 1)} ms; after SIGKILL ${round(failover.at(-1)!, 0)} ms to the standby publishing`);
      leader = standby;
      standby = await startPumpChild(ctx.cleanup, vars);
    }

    const r = median(restart);
    const s = median(steady);
    const f = median(failover);
    const l = median(live);
    return [
      {
        bench: 'recovery',
        metric: `NATS restart -> ${backlog} backlog drained`,
        value: round(r / 1000, 2),
        unit: 's',
        baseline: { name: 'same backlog, NATS up', value: round(s / 1000, 2) },
        ratio: round(r / s, 2),
        runs: ctx.runs,
        detail: { note: 'ratio = restart / baseline (lower is better)', runs: restart, baselineRuns: steady },
      },
      {
        bench: 'recovery',
        metric: 'pump SIGKILL -> standby publishing (event at subscriber)',
        value: round(f / 1000, 2),
        unit: 's',
        baseline: { name: 'live leader commit -> subscriber', value: round(l / 1000, 3) },
        ratio: round(f / l, 1),
        runs: ctx.runs,
        detail: { note: 'the standby retries the leader lock every 1 s (src/pump/leader.ts)', runs: failover, baselineRuns: live },
      },
    ];
  },
};
