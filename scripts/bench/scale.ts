// 4. Outbox at scale: one transaction transitioning 100,000 rows (20,000 in quick mode).
//   tasks:       statehub.cancel_stale_tasks() cancelling 100,000 stale tasks (10,000 completed
//                workstreams x 10 open tasks) and recording 100,000 task.stale events, against
//                the same UPDATE of tasks without the outbox INSERT;
//   workstreams: one UPDATE completing 100,000 workstreams, capture trigger on against off.
// Time is measured around the statement and its COMMIT; WAL is the bytes of the transaction's
// own records (pg_walinspect, by xid), so the shared server's other traffic does not count.
// Then a pump child drains a fresh 100,000-event backlog while /proc/<pid>/status VmHWM is
// sampled: its peak RSS, against the same process's peak while idle before the backlog.
// Diagnostic: the pump publishes one event per ordering key at a time, so a backlog whose
// events share few keys (task.stale of one workstream all carry workstream:<id>) drains at
// (keys in a batch) / (ack round trip). Measured: 5,000 task.stale events, 100 per workstream,
// against 5,000 with one per workstream.
import type pg from 'pg';
import { benchDatabase, benchNats, pendingCount, startPumpChild, until } from './lib/env.ts';
import { median, nowMs, round, sleep } from './lib/stats.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

const PER_WORKSTREAM = 10;

/** `workstreams` completed workstreams with PER_WORKSTREAM open tasks each: stale tasks. */
async function seedStaleTasks(pool: pg.Pool, workstreams: number, tag: string, perWorkstream = PER_WORKSTREAM): Promise<void> {
  await pool.query(`INSERT INTO statehub.domains (slug, name) VALUES ('bench', 'Bench') ON CONFLICT (slug) DO NOTHING`);
  await pool.query(`INSERT INTO statehub.topics (slug, title, domain_id) SELECT 'bench', 'Bench', id FROM statehub.domains WHERE slug = 'bench' ON CONFLICT (slug) DO NOTHING`);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO statehub.workstreams (slug, title, topic_id, status)
       SELECT $1 || '-' || g, 'Scale workstream ' || g, (SELECT id FROM statehub.topics WHERE slug = 'bench'), 'active'
         FROM generate_series(1, $2::int) g`,
      [tag, workstreams],
    );
    await client.query(
      `INSERT INTO statehub.tasks (workstream_id, title, status)
       SELECT w.id, 'Scale task ' || g, (ARRAY['todo', 'in_progress', 'blocked']::statehub.task_status[])[1 + g % 3]
         FROM statehub.workstreams w CROSS JOIN generate_series(1, $2::int) g
        WHERE w.slug LIKE $1 || '-%'`,
      [tag, perWorkstream],
    );
    // Completing them records workstreams.completed events; those are not what is measured.
    await client.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE slug LIKE $1 || '-%'`, [tag]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  await pool.query('VACUUM (ANALYZE) statehub.tasks, statehub.workstreams, statehub.outbox');
}

async function seedPlanned(pool: pg.Pool, count: number, tag: string): Promise<void> {
  await pool.query(
    `INSERT INTO statehub.workstreams (slug, title, topic_id, status)
     SELECT $1 || '-' || g, 'Scale workstream ' || g, (SELECT id FROM statehub.topics WHERE slug = 'bench'), 'planned'
       FROM generate_series(1, $2::int) g`,
    [tag, count],
  );
  await pool.query('VACUUM (ANALYZE) statehub.workstreams');
}

// cancel_stale_tasks() (sql/240) without its `recorded` CTE: the same cancellation, no events.
const PLAIN_CANCEL = `
  WITH stale AS (
    SELECT s.* FROM statehub.stale_tasks s
      JOIN statehub.tasks t ON t.id = s.task_id AND t.status::text = s.task_status_before
       FOR UPDATE OF t
  ), cancelled AS (
    UPDATE statehub.tasks t
       SET status = 'cancelled', status_reason = format('stale: workstream %s is %s', s.workstream_id, s.workstream_status)
      FROM stale s WHERE t.id = s.task_id
    RETURNING s.*)
  SELECT count(*)::int AS n FROM cancelled`;

interface Measured {
  ms: number;
  walBytes: number;
  fpiBytes: number;
  records: number;
  rows: number;
}

/** Runs `sql` in its own transaction; time includes COMMIT, WAL is this transaction's records. */
async function measure(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<Measured> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows: x } = await client.query<{ xid: string; lsn: string }>('SELECT txid_current()::text AS xid, pg_current_wal_lsn()::text AS lsn');
    const t0 = nowMs();
    const { rows } = await client.query<{ n: number }>(sql, params);
    await client.query('COMMIT');
    const ms = nowMs() - t0;
    const { rows: w } = await client.query<{ bytes: string; fpi: string; records: string }>(
      `SELECT coalesce(sum(record_length), 0)::bigint::text AS bytes, coalesce(sum(fpi_length), 0)::bigint::text AS fpi, count(*)::text AS records
         FROM pg_get_wal_records_info($1::pg_lsn, pg_current_wal_lsn()) WHERE xid = $2::xid`,
      [x[0]!.lsn, x[0]!.xid],
    );
    return { ms, walBytes: Number(w[0]!.bytes), fpiBytes: Number(w[0]!.fpi), records: Number(w[0]!.records), rows: Number(rows[0]?.n ?? 0) };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export const scaleBench: Bench = {
  name: 'scale',
  title: 'Outbox at scale: one transaction transitioning 100,000 rows; pump memory while draining it',
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = ctx.quick ? 20_000 : 100_000;
    const workstreams = size / PER_WORKSTREAM;
    const db = await benchDatabase(ctx.cleanup, 4);
    await db.pool.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
    // A temporary physical slot keeps the WAL being measured from being recycled by a checkpoint
    // before pg_walinspect reads it; PostgreSQL drops it when this session ends, even on a crash.
    const slotClient = await db.pool.connect();
    ctx.cleanup.defer('WAL slot session', () => slotClient.release(true));
    await slotClient.query(`SELECT pg_create_physical_replication_slot('statehub_bench_' || pg_backend_pid(), true, true)`);
    await db.pool.query(`INSERT INTO statehub.domains (slug, name) VALUES ('bench', 'Bench') ON CONFLICT (slug) DO NOTHING`);
    await db.pool.query(`INSERT INTO statehub.topics (slug, title, domain_id) SELECT 'bench', 'Bench', id FROM statehub.domains WHERE slug = 'bench' ON CONFLICT (slug) DO NOTHING`);

    const got = new Map<string, Measured[]>();
    const push = (k: string, m: Measured) => got.set(k, [...(got.get(k) ?? []), m]);
    let tag = 0;
    for (let i = 0; i < ctx.runs; i++) {
      for (const which of i % 2 ? ['plain', 'events'] : ['events', 'plain']) {
        await seedStaleTasks(db.pool, workstreams, `t${i}${which}${tag++}`);
        const m = which === 'events' ? await measure(db.pool, 'SELECT count(*)::int AS n FROM statehub.cancel_stale_tasks(false, NULL)') : await measure(db.pool, PLAIN_CANCEL);
        if (m.rows !== size) throw new Error(`${which}: ${m.rows} tasks cancelled, expected ${size}`);
        push(`tasks-${which}`, m);
        ctx.log(`run ${i + 1}/${ctx.runs} tasks ${which}: ${round(m.ms, 0)} ms, WAL ${round(m.walBytes / 2 ** 20, 1)} MiB (FPI ${round(m.fpiBytes / 2 ** 20, 1)} MiB)`);
      }
      for (const which of i % 2 ? ['off', 'on'] : ['on', 'off']) {
        const t = `w${i}${which}${tag++}`;
        await seedPlanned(db.pool, size, t);
        if (which === 'off') await db.pool.query('ALTER TABLE statehub.workstreams DISABLE TRIGGER _500_capture_workstream_completed');
        try {
          const m = await measure(
            db.pool,
            `WITH u AS (UPDATE statehub.workstreams SET status = 'completed' WHERE slug LIKE $1 || '-%' RETURNING 1) SELECT count(*)::int AS n FROM u`,
            [t],
          );
          if (m.rows !== size) throw new Error(`workstreams ${which}: ${m.rows} completed, expected ${size}`);
          push(`ws-${which}`, m);
          ctx.log(`run ${i + 1}/${ctx.runs} workstreams capture ${which}: ${round(m.ms, 0)} ms, WAL ${round(m.walBytes / 2 ** 20, 1)} MiB (FPI ${round(m.fpiBytes / 2 ** 20, 1)} MiB)`);
        } finally {
          await db.pool.query('ALTER TABLE statehub.workstreams ENABLE TRIGGER _500_capture_workstream_completed');
        }
      }
    }

    const figures: Figure[] = [];
    const pairs = [
      ['tasks', `cancel_stale_tasks(), ${size} tasks in one transaction`, 'tasks-events', 'tasks-plain', 'same UPDATE without outbox'],
      ['workstreams', `UPDATE completing ${size} workstreams in one statement`, 'ws-on', 'ws-off', 'capture trigger disabled'],
    ] as const;
    for (const [, label, k, base, baseName] of pairs) {
      const ms = median(got.get(k)!.map((m) => m.ms));
      const bms = median(got.get(base)!.map((m) => m.ms));
      const wal = median(got.get(k)!.map((m) => m.walBytes));
      const bwal = median(got.get(base)!.map((m) => m.walBytes));
      figures.push({
        bench: 'scale',
        metric: `${label}: time`,
        value: round(ms / 1000, 2),
        unit: 's',
        baseline: { name: baseName, value: round(bms / 1000, 2) },
        ratio: round(ms / bms, 2),
        runs: ctx.runs,
        detail: { note: 'ratio = with events / without (cost factor)', runs: got.get(k), baselineRuns: got.get(base) },
      });
      figures.push({
        bench: 'scale',
        metric: `${label}: WAL`,
        value: round(wal / 2 ** 20, 1),
        unit: 'MiB',
        baseline: { name: baseName, value: round(bwal / 2 ** 20, 1) },
        ratio: round(wal / bwal, 2),
        runs: ctx.runs,
        detail: { note: 'ratio = with events / without', bytesPerEvent: round((wal - bwal) / size, 0) },
      });
    }

    // Memory: one fresh backlog of `size` task.stale events, drained by a pump child.
    await db.pool.query('DELETE FROM statehub.outbox');
    await db.pool.query('VACUUM (ANALYZE) statehub.outbox');
    const nats = await benchNats(ctx.cleanup);
    const pump = await startPumpChild(ctx.cleanup, { DATABASE_URL: db.url, NATS_URL: nats.url, STREAM_NAME: 'BENCH_SCALE' });
    await pump.waitForLog((l) => l.message === 'became leader: publishing');
    await sleep(1000);
    const idle = pump.memory()!;
    await seedStaleTasks(db.pool, workstreams, `mem${tag++}`);
    await until(async () => (await pendingCount(db.pool)) === 0, 'the pump to drain the workstream.completed events', 120_000, 50);
    process.kill(pump.pid, 'SIGSTOP');
    try {
      await db.pool.query('SELECT count(*) FROM statehub.cancel_stale_tasks(false, NULL)');
    } finally {
      process.kill(pump.pid, 'SIGCONT');
    }
    const t0 = nowMs();
    let peak = 0;
    await until(
      async () => {
        peak = Math.max(peak, pump.memory()?.hwm ?? 0);
        return (await pendingCount(db.pool)) === 0;
      },
      'the pump to drain the backlog',
      600_000,
      100,
    );
    const drainS = (nowMs() - t0) / 1000;
    peak = Math.max(peak, pump.memory()?.hwm ?? 0);
    ctx.log(`pump drained ${size} events in ${round(drainS, 1)} s; VmHWM idle ${round(idle.hwm / 2 ** 20, 0)} MiB, peak ${round(peak / 2 ** 20, 0)} MiB`);
    figures.push({
      bench: 'scale',
      metric: `pump peak RSS (VmHWM) draining ${size} events`,
      value: round(peak / 2 ** 20, 0),
      unit: 'MiB',
      baseline: { name: 'same pump idle', value: round(idle.hwm / 2 ** 20, 0) },
      ratio: round(peak / idle.hwm, 2),
      goal: '< 256 MiB',
      met: peak < 256 * 2 ** 20,
      runs: 1,
      detail: { drainSeconds: round(drainS, 1), eventsPerSecond: round(size / drainS, 0) },
    });

    // Key concentration: same number of events, 100 per ordering key vs 1 per key.
    const rates: Record<string, number> = {};
    for (const [name, per] of [['1 per key', 1], ['100 per key', 100]] as const) {
      await seedStaleTasks(db.pool, 5000 / per, `k${per}x${tag++}`, per);
      await until(async () => (await pendingCount(db.pool)) === 0, 'the pump to drain the completions', 120_000, 50);
      process.kill(pump.pid, 'SIGSTOP');
      try {
        await db.pool.query('SELECT count(*) FROM statehub.cancel_stale_tasks(false, NULL)');
      } finally {
        process.kill(pump.pid, 'SIGCONT');
      }
      const k0 = nowMs();
      await until(async () => (await pendingCount(db.pool)) === 0, `the pump to drain 5000 events, ${name}`, 300_000, 20);
      rates[name] = 5000 / ((nowMs() - k0) / 1000);
      ctx.log(`5000 task.stale events, ${name}: ${round(rates[name]!, 0)} events/s`);
    }
    figures.push({
      bench: 'scale',
      metric: 'pump drain, 5000 task.stale events sharing 50 ordering keys (diagnostic)',
      value: round(rates['100 per key']!, 0),
      unit: 'events/s',
      baseline: { name: '5000 events, 5000 keys', value: round(rates['1 per key']!, 0) },
      ratio: round(rates['100 per key']! / rates['1 per key']!, 3),
      runs: 1,
    });
    return figures;
  },
};
