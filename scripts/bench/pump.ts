// 1. Pump throughput: a backlog of captured events (100,000 workstream.completed rows, written
// by the real capture trigger in one UPDATE) drained into JetStream (file storage) by a pump
// child process with its default settings (PUMP_BATCH_SIZE 1000, PUMP_MAX_IN_FLIGHT 256).
// The clock starts when the frozen pump (SIGSTOP while the backlog is committed) is resumed
// and stops when the pump has recorded the delta (no row left that it has not passed).
// Baselines, same run: the same nats client publishing the same envelopes (pre-built from the
// same rows, fresh msgIDs) to the same stream, 256 publishes in flight (256 workers, each
// awaiting its ack, as the pump's lanes do): once with the client's default options, once with
// noAsyncTraces (the best plain configuration; the pump sets it).
// Also measured: the outbox's updates and dead tuples caused by draining (pg_stat_user_tables;
// rows are immutable, so both must stay 0), and CPU per 1,000 events, pump against publisher.
// Between runs the position goes back to the origin batch, the rows get new event ids (then
// VACUUM), and the stream is purged; the order of the three alternates.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { toEnvelope } from '../../src/events/catalog.ts';
import { benchDatabase, benchNats, cpuSeconds, natsConnection, pendingCount, seedWorkstreams, startPumpChild, until } from './lib/env.ts';
import { median, nowMs, round, sleep } from './lib/stats.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

const STREAM = 'BENCH_PUMP';
const IN_FLIGHT = 256;

/** Undelivered again: back to the origin batch, with fresh event ids (JetStream would drop the old ones). */
async function requeue(pool: pg.Pool): Promise<void> {
  await pool.query('DELETE FROM statehub.outbox_batches WHERE previous_id IS NOT NULL');
  await pool.query('UPDATE statehub.outbox SET event_id = gen_random_uuid()');
  await pool.query('VACUUM (ANALYZE) statehub.outbox');
}

interface TableStats {
  /** Rows updated or deleted: writes that leave a dead tuple. */
  updates: number;
  dead: number;
}

/** The outbox's counters; the server flushes backends' statistics within a second or so. */
async function outboxStats(pool: pg.Pool): Promise<TableStats> {
  await sleep(1500);
  const { rows } = await pool.query<TableStats>(
    `SELECT (n_tup_upd + n_tup_del)::int AS updates, n_dead_tup::int AS dead FROM pg_stat_user_tables WHERE relid = 'statehub.outbox'::regclass`,
  );
  return rows[0]!;
}

export const pumpBench: Bench = {
  name: 'pump',
  title: 'Pump throughput: outbox backlog drained into JetStream vs direct publishing',
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = ctx.quick ? 20_000 : 100_000;
    const db = await benchDatabase(ctx.cleanup, 4);
    const nats = await benchNats(ctx.cleanup);
    const plain = await natsConnection(ctx.cleanup, nats.url, 'statehub-bench-baseline');
    const lean = await natsConnection(ctx.cleanup, nats.url, 'statehub-bench-baseline-noasynctraces', { noAsyncTraces: true });
    const jsm = await plain.jetstreamManager();

    const pump = await startPumpChild(ctx.cleanup, { DATABASE_URL: db.url, NATS_URL: nats.url, STREAM_NAME: STREAM });
    await pump.waitForLog((l) => l.message === 'became leader: publishing');
    ctx.log(`capturing ${size} events`);
    const ws = await seedWorkstreams(db.pool, size, 'planned', 'pump');
    // Capture with the pump frozen, so the first run starts from a complete backlog.
    process.kill(pump.pid, 'SIGSTOP');
    try {
      await db.pool.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE id BETWEEN $1 AND $2`, [ws.first, ws.last]);
      await db.pool.query('VACUUM (ANALYZE) statehub.outbox');
    } finally {
      process.kill(pump.pid, 'SIGCONT');
    }
    await until(async () => (await pendingCount(db.pool)) === 0, 'the first drain (warm-up)', 600_000, 100);

    // The baselines' messages: the very envelopes the pump publishes, built once, before timing.
    const { rows } = await db.pool.query('SELECT id, event_id, subject, ordering_key, attributes, occurred_at FROM statehub.outbox ORDER BY id');
    const encoder = new TextEncoder();
    const messages = rows.map((r) => ({ subject: r.subject as string, data: encoder.encode(JSON.stringify(toEnvelope(r, 'the-custodian/state-hub'))) }));
    const bytes = median(messages.map((m) => m.data.length));

    async function baseline(nc: typeof plain): Promise<{ rate: number; cpu: number }> {
      const js = nc.jetstream({ timeout: 5000 });
      await jsm.streams.purge(STREAM);
      const ids = messages.map(() => randomUUID());
      let next = 0;
      const cpu0 = process.cpuUsage();
      const t0 = nowMs();
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          for (let i = next++; i < messages.length; i = next++) {
            await js.publish(messages[i]!.subject, messages[i]!.data, { msgID: ids[i]! });
          }
        }),
      );
      const rate = (messages.length / (nowMs() - t0)) * 1000;
      const cpu = process.cpuUsage(cpu0);
      return { rate, cpu: (cpu.user + cpu.system) / 1e6 };
    }

    async function pumped(): Promise<{ rate: number; cpu: number; updates: number; dead: number }> {
      process.kill(pump.pid, 'SIGSTOP');
      let before: TableStats;
      try {
        await requeue(db.pool);
        await jsm.streams.purge(STREAM);
        before = await outboxStats(db.pool);
        await db.pool.query('NOTIFY statehub_outbox');
      } catch (err) {
        process.kill(pump.pid, 'SIGCONT');
        throw err;
      }
      const cpu0 = cpuSeconds(pump.pid);
      const t0 = nowMs();
      process.kill(pump.pid, 'SIGCONT');
      await until(async () => (await pendingCount(db.pool)) === 0, 'the pump to drain', 600_000, 20);
      const seconds = (nowMs() - t0) / 1000;
      const cpu = cpuSeconds(pump.pid) - cpu0;
      const info = await jsm.streams.info(STREAM);
      if (info.state.messages !== size) throw new Error(`stream holds ${info.state.messages} messages, expected ${size}`);
      const after = await outboxStats(db.pool);
      // Dead tuples the drain added (the requeue's own UPDATE leaves some VACUUM may not have removed yet).
      return { rate: size / seconds, cpu, updates: after.updates - before.updates, dead: after.dead - before.dead };
    }

    const runs = { pump: [] as number[], plain: [] as number[], lean: [] as number[] };
    const cpu = { pump: [] as number[], plain: [] as number[], lean: [] as number[] };
    const table = { updates: [] as number[], dead: [] as number[] };
    const orders = [
      ['plain', 'lean', 'pump'],
      ['pump', 'lean', 'plain'],
      ['lean', 'pump', 'plain'],
    ] as const;
    for (let i = 0; i < ctx.runs; i++) {
      // Rotate the order, so drift does not favour one.
      for (const which of orders[i % orders.length]!) {
        if (which === 'pump') {
          const r = await pumped();
          runs.pump.push(r.rate);
          cpu.pump.push(r.cpu);
          table.updates.push(r.updates);
          table.dead.push(r.dead);
          ctx.log(`run ${i + 1}/${ctx.runs} pump: ${round(r.rate, 0)} events/s (CPU ${round(r.cpu, 2)} s; outbox updates ${r.updates}, dead tuples ${r.dead})`);
        } else {
          const r = await baseline(which === 'plain' ? plain : lean);
          runs[which].push(r.rate);
          cpu[which].push(r.cpu);
          ctx.log(`run ${i + 1}/${ctx.runs} ${which === 'plain' ? 'direct publish, default options' : 'direct publish, noAsyncTraces'}: ${round(r.rate, 0)} msgs/s (CPU ${round(r.cpu, 2)} s)`);
        }
      }
    }
    const p = median(runs.pump);
    const perThousand = (seconds: number[]) => round((median(seconds) / size) * 1000 * 1000, 1); // ms of CPU per 1,000 events
    const detail = { runs, cpuSeconds: cpu, outbox: table, envelopeBytes: bytes, batchSize: 1000, maxInFlight: IN_FLIGHT };
    return [
      {
        bench: 'pump',
        metric: `drain ${size} events (${bytes} B envelopes)`,
        value: round(p, 0),
        unit: 'events/s',
        baseline: { name: `direct publish, default options, ${IN_FLIGHT} in flight`, value: round(median(runs.plain), 0) },
        ratio: round(p / median(runs.plain), 3),
        goal: '>= 1.0 x baseline',
        met: p / median(runs.plain) >= 1.0,
        runs: ctx.runs,
        detail,
      },
      {
        bench: 'pump',
        metric: `drain ${size} events, against the best plain publisher`,
        value: round(p, 0),
        unit: 'events/s',
        baseline: { name: `direct publish, noAsyncTraces, ${IN_FLIGHT} in flight`, value: round(median(runs.lean), 0) },
        ratio: round(p / median(runs.lean), 3),
        goal: '>= 0.9 x baseline',
        met: p / median(runs.lean) >= 0.9,
        runs: ctx.runs,
      },
      {
        bench: 'pump',
        metric: 'CPU per 1,000 events (pump process)',
        value: perThousand(cpu.pump),
        unit: 'ms',
        baseline: { name: 'direct publish, noAsyncTraces (bench process)', value: perThousand(cpu.lean) },
        ratio: round(median(cpu.pump) / median(cpu.lean), 3),
        runs: ctx.runs,
        detail: { plainPublisherMsPer1000: perThousand(cpu.plain) },
      },
      {
        bench: 'pump',
        metric: `outbox updates / dead tuples from draining ${size} events`,
        value: Math.max(...table.updates),
        unit: 'updates (max over runs)',
        goal: '0 updates, 0 dead tuples',
        met: Math.max(...table.updates) === 0 && Math.max(...table.dead) === 0,
        runs: ctx.runs,
        detail: { deadTuples: table.dead },
      },
    ];
  },
};
