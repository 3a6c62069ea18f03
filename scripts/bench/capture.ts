// 3. Capture overhead: pgbench single-row status UPDATEs of statehub.workstreams, each its own
// transaction, at 1, 8 and 32 clients:
//   (a)  planned -> completed with the capture trigger disabled (every other trigger on): baseline;
//   (b)  planned -> completed with capture on, the pump running (so it publishes and sets busy);
//   (c)  planned <-> active with capture on: a status change that is not an event transition;
//   (c0) the same as (c) with capture disabled, which isolates the cost of the WHEN clause;
//   (b0) diagnostic, 8 and 32 clients: (b) with the pump frozen (SIGSTOP) and busy forced
//        true, i.e. the SQL cost of capture alone, without NOTIFY and without the pump and
//        nats-server competing for the CPU.
// pg_stat_activity is sampled during every measurement to show where the backends wait.
// A workstream completes only once, so (a) and (b) complete fresh rows: each pgbench client
// walks its own slice of a pool of planned rows with a per-client counter, and the pool is
// reset to planned (transition check disabled for that one statement) before each measurement.
// Every (a)/(b) measurement is checked afterwards: completed rows (and for (b) outbox rows)
// must equal the transactions pgbench counted, so no transaction was a silent non-transition.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { benchDatabase, benchNats, cpuSeconds, machineShare, machineTicks, pendingCount, seedWorkstreams, startPumpChild, until, type BenchDatabase } from './lib/env.ts';
import { median, round } from './lib/stats.ts';
import { formatWaits, sampleWaits, type WaitProfile } from './lib/waits.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

const run = promisify(execFile);
const CAPTURE_TRIGGER = '_500_capture_workstream_completed';

export function pgbenchPath(): string {
  for (const p of ['/usr/lib/postgresql/15/bin/pgbench', '/usr/bin/pgbench']) if (existsSync(p)) return p;
  throw new Error('pgbench not found: apt-get install postgresql-contrib (Debian ships it in postgresql-client)');
}

interface PgbenchResult {
  tps: number;
  transactions: number;
  failed: number;
}

async function pgbench(url: string, script: string, clients: number, seconds: number, defines: Record<string, number>): Promise<PgbenchResult> {
  const u = new URL(url);
  const args = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), '-n', '-M', 'prepared'];
  args.push('-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-f', script);
  for (const [k, v] of Object.entries(defines)) args.push('-D', `${k}=${v}`);
  args.push(u.pathname.slice(1));
  const { stdout } = await run(pgbenchPath(), args, { maxBuffer: 1 << 20 });
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? Number.NaN);
  const result = {
    tps: num(/tps = ([\d.]+) \(without initial connection time\)/),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: num(/number of failed transactions: (\d+)/) || 0,
  };
  if (!Number.isFinite(result.tps)) throw new Error(`cannot read pgbench output:\n${stdout}`);
  return result;
}

type Variant = 'a' | 'b' | 'b0' | 'c' | 'c0';
const LABEL: Record<Variant, string> = {
  a: '(a) transition, capture off',
  b: '(b) transition, capture on',
  b0: '(b0) transition, capture on, pump frozen, no NOTIFY',
  c: '(c) non-event change, capture on',
  c0: '(c0) non-event change, capture off',
};

async function setCapture(pool: pg.Pool, on: boolean): Promise<void> {
  await pool.query(`ALTER TABLE statehub.workstreams ${on ? 'ENABLE' : 'DISABLE'} TRIGGER ${CAPTURE_TRIGGER}`);
}

/** Puts every completed row of the transition pool back to planned, then vacuums. */
async function resetPool(pool: pg.Pool, first: number, last: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE statehub.workstreams DISABLE TRIGGER _200_check_transition');
    await client.query(`UPDATE statehub.workstreams SET status = 'planned', completed_at = NULL WHERE status = 'completed' AND id BETWEEN $1 AND $2`, [first, last]);
    await client.query('ALTER TABLE statehub.workstreams ENABLE TRIGGER _200_check_transition');
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  await pool.query('VACUUM (ANALYZE) statehub.workstreams');
  await pool.query('VACUUM statehub.outbox');
}

async function count(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(sql, params);
  return Number(rows[0]!.n);
}

export const captureBench: Bench = {
  name: 'capture',
  title: 'Capture overhead (pgbench, single-row status UPDATEs)',
  async run(ctx: BenchContext): Promise<Figure[]> {
    const seconds = ctx.quick ? 3 : 4;
    const clientCounts = [1, 8, 32];
    const poolSize = ctx.quick ? 40_000 : 150_000;
    const cyclePerClient = 200;

    const db: BenchDatabase = await benchDatabase(ctx.cleanup, 4);
    const nats = await benchNats(ctx.cleanup);
    ctx.log(`seeding ${poolSize} + ${cyclePerClient * 32} workstreams`);
    const transitions = await seedWorkstreams(db.pool, poolSize, 'planned', 'tr');
    const cycle = await seedWorkstreams(db.pool, cyclePerClient * 32, 'planned', 'cy');
    await db.pool.query('VACUUM (ANALYZE)');
    const pump = await startPumpChild(ctx.cleanup, { DATABASE_URL: db.url, NATS_URL: nats.url, STREAM_NAME: 'BENCH_CAPTURE' });
    await pump.waitForLog((l) => l.message === 'became leader: publishing');

    const dir = mkdtempSync(path.join(tmpdir(), 'statehub-bench-pgbench-'));
    ctx.cleanup.defer(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    const transitionScript = path.join(dir, 'transition.sql');
    writeFileSync(
      transitionScript,
      [
        '\\set n :n + 1',
        '\\set id :base + :client_id * :per + (:n % :per)',
        `UPDATE statehub.workstreams SET status = 'completed' WHERE id = :id;`,
        '',
      ].join('\n'),
    );
    const cycleScript = path.join(dir, 'cycle.sql');
    writeFileSync(
      cycleScript,
      [
        '\\set id :base + :client_id * :per + random(0, :per - 1)',
        `UPDATE statehub.workstreams SET status = CASE status WHEN 'planned' THEN 'active'::statehub.workstream_status ELSE 'planned'::statehub.workstream_status END WHERE id = :id;`,
        '',
      ].join('\n'),
    );

    /**
     * CPU while pgbench ran: the machine's busy and stolen shares; for (b), µs per event (until
     * drained) of the pump process, of its PostgreSQL backends (same host) and of nats-server.
     */
    interface Cpu {
      busy: number;
      steal: number;
      pumpUs?: number;
      backendsUs?: number;
      natsUs?: number;
    }
    const pumpBackends = async () =>
      (await db.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'statehub-pump%'`, [db.name])).rows.map((r) => r.pid);
    const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);

    async function measure(variant: Variant, clients: number): Promise<PgbenchResult & { profile: WaitProfile; cpu: Cpu }> {
      const transition = variant === 'a' || variant === 'b' || variant === 'b0';
      await setCapture(db.pool, variant === 'b' || variant === 'b0' || variant === 'c');
      if (transition) await resetPool(db.pool, transitions.first, transitions.last);
      const outboxBefore = await count(db.pool, 'SELECT count(*) AS n FROM statehub.outbox');
      const per = transition ? Math.floor(poolSize / clients) : cyclePerClient;
      const base = transition ? transitions.first : cycle.first;
      if (variant === 'b0') {
        process.kill(pump.pid, 'SIGSTOP');
        await db.pool.query('UPDATE statehub.outbox_pump_state SET busy = true');
      }
      let measured: { result: PgbenchResult; profile: WaitProfile };
      const backends = await pumpBackends();
      const processes0 = { pump: cpuSeconds(pump.pid), backends: cpuOf(backends), nats: cpuSeconds(nats.pid ?? -1) };
      const machine0 = machineTicks();
      let machine = { busy: Number.NaN, steal: Number.NaN };
      try {
        measured = await sampleWaits(db.url, db.name, 'pgbench', () =>
          pgbench(db.url, transition ? transitionScript : cycleScript, clients, seconds, { n: 0, base, per }),
        );
        machine = machineShare(machine0, machineTicks());
      } finally {
        if (variant === 'b0') process.kill(pump.pid, 'SIGCONT');
      }
      const r = measured.result;
      if (r.failed > 0) throw new Error(`${LABEL[variant]} at ${clients} clients: ${r.failed} failed transactions`);
      if (transition) {
        // Each client's counter must have stayed inside its slice: every transaction completed a fresh row.
        const completed = await count(db.pool, `SELECT count(*) AS n FROM statehub.workstreams WHERE status = 'completed' AND id BETWEEN $1 AND $2`, [
          transitions.first,
          transitions.last,
        ]);
        if (completed !== r.transactions) throw new Error(`${LABEL[variant]}: ${r.transactions} transactions but ${completed} completions (pool too small?)`);
      }
      const events = (await count(db.pool, 'SELECT count(*) AS n FROM statehub.outbox')) - outboxBefore;
      const expected = variant === 'b' || variant === 'b0' ? r.transactions : 0;
      if (events !== expected) throw new Error(`${LABEL[variant]}: expected ${expected} events, found ${events}`);
      if (expected) await until(async () => (await pendingCount(db.pool)) === 0, `the pump to drain after ${LABEL[variant]}`, 300_000, 100);
      const cpu: Cpu = { ...machine };
      if (variant === 'b') {
        cpu.pumpUs = ((cpuSeconds(pump.pid) - processes0.pump) * 1e6) / events;
        cpu.backendsUs = ((cpuOf(backends) - processes0.backends) * 1e6) / events;
        cpu.natsUs = ((cpuSeconds(nats.pid ?? -1) - processes0.nats) * 1e6) / events;
      }
      return { ...r, profile: measured.profile, cpu };
    }

    // Warm-up, discarded: caches, the pump's first wake-up, pgbench's first connections.
    ctx.log('warm-up');
    await measure('a', 8);
    await measure('b', 8);

    const tps = new Map<string, number[]>();
    const profiles = new Map<string, WaitProfile[]>();
    const cpus = new Map<string, Cpu[]>();
    for (let i = 0; i < ctx.runs; i++) {
      for (const clients of clientCounts) {
        const variants: Variant[] = clients > 1 ? ['a', 'b', 'c', 'c0', 'b0'] : ['a', 'b', 'c', 'c0'];
        // Rotate the order each run so slow drift of a shared machine does not favour one variant.
        const order = variants.map((_, k) => variants[(k + i + clients) % variants.length]!);
        for (const v of order) {
          const r = await measure(v, clients);
          const key = `${v}@${clients}`;
          tps.set(key, [...(tps.get(key) ?? []), r.tps]);
          profiles.set(key, [...(profiles.get(key) ?? []), r.profile]);
          cpus.set(key, [...(cpus.get(key) ?? []), r.cpu]);
          const delivery = r.cpu.pumpUs === undefined ? '' : `; CPU per event: pump ${round(r.cpu.pumpUs, 0)} µs, its backends ${round(r.cpu.backendsUs!, 0)} µs, nats-server ${round(r.cpu.natsUs!, 0)} µs`;
          ctx.log(
            `run ${i + 1}/${ctx.runs} ${LABEL[v]} ${clients} clients: ${round(r.tps, 0)} tps; waits: ${formatWaits(r.profile)}; busy ${Math.round(r.profile.busyShare * 100)}%; ` +
              `machine CPU busy ${Math.round(r.cpu.busy * 100)}%, stolen ${Math.round(r.cpu.steal * 100)}%${delivery}`,
          );
        }
      }
    }
    await setCapture(db.pool, true);

    const figures: Figure[] = [];
    for (const clients of clientCounts) {
      const a = median(tps.get(`a@${clients}`)!);
      figures.push({
        bench: 'capture',
        metric: `${LABEL.a}, ${clients} clients`,
        value: round(a, 0),
        unit: 'tps',
        runs: ctx.runs,
        detail: { runs: tps.get(`a@${clients}`), waits: profiles.get(`a@${clients}`) },
      });
      for (const v of ['b', 'c'] as const) {
        const value = median(tps.get(`${v}@${clients}`)!);
        const ratio = value / a;
        const goal = v === 'b' ? (clients >= 8 ? 0.75 : undefined) : 0.97;
        figures.push({
          bench: 'capture',
          metric: `${LABEL[v]}, ${clients} clients`,
          value: round(value, 0),
          unit: 'tps',
          baseline: { name: '(a)', value: round(a, 0) },
          ratio: round(ratio, 3),
          ...(goal === undefined ? {} : { goal: `>= ${goal} x (a)`, met: ratio >= goal }),
          runs: ctx.runs,
          detail: { runs: tps.get(`${v}@${clients}`), baselineRuns: tps.get(`a@${clients}`), waits: profiles.get(`${v}@${clients}`) },
        });
      }
      if (clients > 1) {
        // Where the CPU goes: the plain commit rate already keeps a small machine busy, and the
        // pump, its backends and nats-server run on the same cores as the writers.
        const b = cpus.get(`b@${clients}`)!;
        const a = cpus.get(`a@${clients}`)!;
        const pump = median(b.map((c) => c.pumpUs!));
        const backendsUs = median(b.map((c) => c.backendsUs!));
        const natsUs = median(b.map((c) => c.natsUs!));
        figures.push({
          bench: 'capture',
          metric: `(b) delivery CPU per event: pump, its backends, nats-server, ${clients} clients (diagnostic)`,
          value: round(pump + backendsUs + natsUs, 0),
          unit: 'µs',
          runs: ctx.runs,
          detail: {
            pumpUs: pump,
            backendsUs,
            natsUs,
            machineBusyA: median(a.map((c) => c.busy)),
            machineBusyB: median(b.map((c) => c.busy)),
            stealA: median(a.map((c) => c.steal)),
            stealB: median(b.map((c) => c.steal)),
            runs: b,
          },
        });
      }
      if (tps.has(`b0@${clients}`)) {
        const b0 = median(tps.get(`b0@${clients}`)!);
        figures.push({
          bench: 'capture',
          metric: `${LABEL.b0}, ${clients} clients (diagnostic)`,
          value: round(b0, 0),
          unit: 'tps',
          baseline: { name: '(a)', value: round(a, 0) },
          ratio: round(b0 / a, 3),
          runs: ctx.runs,
          detail: { runs: tps.get(`b0@${clients}`), waits: profiles.get(`b0@${clients}`) },
        });
      }
      const c0 = median(tps.get(`c0@${clients}`)!);
      const c = median(tps.get(`c@${clients}`)!);
      figures.push({
        bench: 'capture',
        metric: `(c) vs (c0): WHEN-clause cost, ${clients} clients`,
        value: round(c, 0),
        unit: 'tps',
        baseline: { name: '(c0)', value: round(c0, 0) },
        ratio: round(c / c0, 3),
        runs: ctx.runs,
        detail: { runs: tps.get(`c@${clients}`), baselineRuns: tps.get(`c0@${clients}`) },
      });
    }
    return figures;
  },
};
