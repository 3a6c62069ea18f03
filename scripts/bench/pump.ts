// 1. Pump throughput: a backlog of captured events (100,000 workstream.completed rows, written
// by the real capture trigger in one UPDATE) drained into JetStream (file storage) by a pump
// child process with its default settings (PUMP_BATCH_SIZE 1000, PUMP_MAX_IN_FLIGHT 256).
// The clock starts when the frozen pump (SIGSTOP while the backlog is committed) is resumed
// and stops when no row is pending (published and marked).
// Baseline, same run: the same nats client publishing the same envelopes (pre-built from the
// same rows, fresh msgIDs) to the same stream, 256 publishes in flight (256 workers, each
// awaiting its ack, as the pump's lanes do).
// Between runs the rows are re-queued with new event ids and the stream is purged.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { toEnvelope } from '../../src/events/catalog.ts';
import { benchDatabase, benchNats, cpuSeconds, natsConnection, pendingCount, seedWorkstreams, startPumpChild, until } from './lib/env.ts';
import { median, nowMs, round } from './lib/stats.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

const STREAM = 'BENCH_PUMP';
const IN_FLIGHT = 256;

async function requeue(pool: pg.Pool): Promise<void> {
  await pool.query(
    `UPDATE statehub.outbox SET published_at = NULL, stream = NULL, stream_seq = NULL, attempts = 0,
            last_error = NULL, failed_at = NULL, event_id = gen_random_uuid()`,
  );
  await pool.query('VACUUM (ANALYZE) statehub.outbox');
}

export const pumpBench: Bench = {
  name: 'pump',
  title: 'Pump throughput: outbox backlog drained into JetStream vs direct publishing',
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = ctx.quick ? 20_000 : 100_000;
    const db = await benchDatabase(ctx.cleanup, 4);
    const nats = await benchNats(ctx.cleanup);
    const nc = await natsConnection(ctx.cleanup, nats.url, 'statehub-bench-baseline');
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream({ timeout: 5000 });

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

    // The baseline's messages: the very envelopes the pump publishes, built once, before timing.
    const { rows } = await db.pool.query('SELECT id, event_id, subject, ordering_key, attributes, occurred_at FROM statehub.outbox ORDER BY id');
    const encoder = new TextEncoder();
    const messages = rows.map((r) => ({ subject: r.subject as string, data: encoder.encode(JSON.stringify(toEnvelope(r, 'the-custodian/state-hub'))) }));
    const bytes = median(messages.map((m) => m.data.length));

    async function baseline(): Promise<number> {
      await jsm.streams.purge(STREAM);
      const ids = messages.map(() => randomUUID());
      let next = 0;
      const t0 = nowMs();
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          for (let i = next++; i < messages.length; i = next++) {
            await js.publish(messages[i]!.subject, messages[i]!.data, { msgID: ids[i]! });
          }
        }),
      );
      return (messages.length / (nowMs() - t0)) * 1000;
    }

    async function pumped(): Promise<{ rate: number; cpu: number }> {
      process.kill(pump.pid, 'SIGSTOP');
      try {
        await requeue(db.pool);
        await jsm.streams.purge(STREAM);
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
      const info = await jsm.streams.info(STREAM);
      if (info.state.messages !== size) throw new Error(`stream holds ${info.state.messages} messages, expected ${size}`);
      return { rate: size / seconds, cpu: cpuSeconds(pump.pid) - cpu0 };
    }

    const base: number[] = [];
    const pumpRates: number[] = [];
    const pumpCpu: number[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      // Alternate which goes first, so drift does not favour one.
      for (const which of i % 2 ? ['pump', 'baseline'] : ['baseline', 'pump']) {
        if (which === 'baseline') {
          base.push(await baseline());
          ctx.log(`run ${i + 1}/${ctx.runs} baseline: ${round(base.at(-1)!, 0)} msgs/s`);
        } else {
          const r = await pumped();
          pumpRates.push(r.rate);
          pumpCpu.push(r.cpu);
          ctx.log(`run ${i + 1}/${ctx.runs} pump: ${round(r.rate, 0)} events/s (pump CPU ${round(r.cpu, 1)} s)`);
        }
      }
    }
    const p = median(pumpRates);
    const b = median(base);
    return [
      {
        bench: 'pump',
        metric: `drain ${size} events (${bytes} B envelopes)`,
        value: round(p, 0),
        unit: 'events/s',
        baseline: { name: `direct publish, ${IN_FLIGHT} in flight`, value: round(b, 0) },
        ratio: round(p / b, 3),
        goal: '>= 0.7 x baseline',
        met: p / b >= 0.7,
        runs: ctx.runs,
        detail: { runs: pumpRates, baselineRuns: base, pumpCpuSeconds: pumpCpu, envelopeBytes: bytes, batchSize: 1000, maxInFlight: IN_FLIGHT },
      },
    ];
  },
};
