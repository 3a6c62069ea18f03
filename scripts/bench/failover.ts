// Failover on clustered engines (docs/ha.md), writers completing 500 workstreams a second, each
// its own transaction, with an in-process pump whose published count is sampled every 10 ms:
//   stream leader kill: a 3-node JetStream cluster, stream R3; SIGKILL the stream's leader.
//     Stall = the longest time without an ack in the 15 s after the kill; also JetStream's own
//     election time and how long after it publishing resumed.
//   promotion: a PostgreSQL primary and two streaming standbys, PUMP_WAIT_FOR_STANDBYS=1; the
//     primary crashes (pg_ctl -m immediate), the most advanced standby is promoted.
//     Stall = the longest time without an ack from the crash on; also promotion -> next ack.
//   Baseline of both: the longest time without an ack over 10 s of the same run with no fault.
//   standby wait: commit -> subscriber p50/p99 with PUMP_WAIT_FOR_STANDBYS=1 against 0, same
//     cluster (one standby), same rate, one after the other.
import type pg from 'pg';
import { connect, type NatsConnection } from 'nats';
import { loadConfig } from '../../src/config.ts';
import { createDb } from '../../src/db.ts';
import { silentLogger } from '../../src/logger.ts';
import { startPump, type PumpHandle } from '../../src/pump/index.ts';
import { startNatsCluster, waitForStreamLeader } from '../../test/helpers/nats-cluster.ts';
import { startPgCluster, type PgCluster } from '../../test/helpers/pg-cluster.ts';
import { benchDatabase, benchNats, seedWorkstreams } from './lib/env.ts';
import { median, nowMs, percentile, round, sleep } from './lib/stats.ts';
import { subscribe } from './lib/subscriber.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

const RATE = 500;
const STREAM = 'ACTIVITY_EVENTS';

/** Completes RATE workstreams a second from `ids.next` until stopped; failed commits (a failover) are skipped. Commit times by id. */
function steadyWriter(pool: pg.Pool, ids: { next: number }): { commits: Map<number, number>; stop(): Promise<void> } {
  const commits = new Map<number, number>();
  const inflight = new Set<Promise<void>>();
  let running = true;
  const loop = (async () => {
    const t0 = nowMs();
    for (let i = 0; running; i++) {
      const wait = t0 + (i * 1000) / RATE - nowMs();
      if (wait > 1) await sleep(wait);
      const id = ids.next++;
      const p = pool.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1`, [id]).then(
        () => void commits.set(id, nowMs()),
        () => undefined,
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
  })();
  return {
    commits,
    async stop() {
      running = false;
      await loop;
      await Promise.all(inflight);
    },
  };
}

/** Samples the pump's published count every 10 ms; `gapSince(t)` is the longest time without growth after t. */
function ackSampler(pump: PumpHandle) {
  const growth: number[] = [];
  let last = -1;
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = nowMs();
      try {
        const body = await (await fetch(`http://127.0.0.1:${pump.metricsPort}/metrics`)).text();
        const n = Number(/^statehub_pump_published_total (\S+)$/m.exec(body)?.[1] ?? -1);
        if (n > last) growth.push(at);
        last = n;
      } catch {
        // a scrape during shutdown
      }
      await sleep(10);
    }
  })();
  return {
    gap(from: number, to: number): number {
      let prev = from;
      let longest = 0;
      for (const t of growth.filter((x) => x > from && x <= to)) {
        longest = Math.max(longest, t - prev);
        prev = t;
      }
      return Math.max(longest, to - prev);
    },
    firstAfter: (t: number) => growth.find((x) => x > t),
    async stop() {
      running = false;
      await loop;
    },
  };
}

const pumpOn = (ctx: BenchContext, env: Record<string, string>) =>
  startPump(loadConfig({ PUMP_METRICS_PORT: '0', PUMP_POLL_INTERVAL: '1s', ...env }), silentLogger()).then((p) => {
    ctx.cleanup.defer('pump', () => p.stop());
    return p;
  });

async function streamLeaderKill(ctx: BenchContext): Promise<Figure[]> {
  const db = await benchDatabase(ctx.cleanup, 16);
  const cluster = await startNatsCluster();
  ctx.cleanup.defer('nats cluster', () => cluster.close());
  const nc: NatsConnection = await connect({ servers: cluster.urls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  ctx.cleanup.defer('nats connection', () => nc.close());
  const ws = await seedWorkstreams(db.pool, RATE * 30 * (ctx.runs + 1), 'planned', 'fo');
  const pump = await pumpOn(ctx, { DATABASE_URL: db.url, NATS_URL: cluster.urls, STREAM_REPLICAS: '3' });
  const sampler = ackSampler(pump);
  ctx.cleanup.defer('sampler', () => sampler.stop());
  const writer = steadyWriter(db.pool, { next: ws.first });
  ctx.cleanup.defer('writer', () => writer.stop());
  await sleep(2000);
  const b0 = nowMs();
  await sleep(10_000);
  const baseline = sampler.gap(b0, nowMs());
  const stalls: number[] = [];
  const elections: number[] = [];
  const afterElection: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    const { leader } = await waitForStreamLeader(cluster, nc, STREAM);
    const killedAt = nowMs();
    await cluster.kill(leader);
    const elected = await waitForStreamLeader(cluster, nc, STREAM, { not: leader });
    const electedAt = performance.timeOrigin + elected.at;
    await sleep(15_000 - (nowMs() - killedAt));
    stalls.push(sampler.gap(killedAt, nowMs()));
    elections.push(electedAt - killedAt);
    afterElection.push((sampler.firstAfter(electedAt - 1000) ?? Infinity) - electedAt);
    ctx.log(`run ${i + 1}/${ctx.runs}: election ${round(elections.at(-1)!, 0)} ms, stall ${round(stalls.at(-1)!, 0)} ms, resumed ${round(afterElection.at(-1)!, 0)} ms after the election`);
    await cluster.start(leader);
    await sleep(3000); // the restarted replica catches up
  }
  await writer.stop();
  return [
    stallFigure(`stream leader SIGKILL (R3, ${RATE}/s)`, stalls, baseline, 8000, {
      electionsMs: elections,
      resumedAfterElectionMs: afterElection,
      note: 'JetStream elects the new stream leader itself (election); the pump resumes after it',
    }),
    msFigure('stream leader SIGKILL: new leader -> first ack', afterElection, 1000, { electionMs: elections }),
  ];
}

/** The median of the longest times without an ack, against the same run's with no fault. */
function stallFigure(fault: string, stalls: number[], baseline: number, goalMs: number | undefined, detail: Record<string, unknown>): Figure {
  const stall = median(stalls);
  return {
    bench: 'failover',
    metric: `${fault}: longest time without an ack`,
    value: round(stall / 1000, 2),
    unit: 's',
    baseline: { name: 'same run, no fault (10 s)', value: round(baseline / 1000, 3) },
    ratio: round(stall / baseline, 1),
    ...(goalMs === undefined ? {} : { goal: `<= ${goalMs / 1000} s`, met: stall <= goalMs }),
    runs: stalls.length,
    detail: { runs: stalls, ...detail },
  };
}

/** The median of `values` (ms) against a goal. */
function msFigure(metric: string, values: number[], goalMs: number, detail: Record<string, unknown> = {}): Figure {
  const value = median(values);
  return { bench: 'failover', metric, value: round(value, 0), unit: 'ms', goal: `<= ${goalMs} ms`, met: value <= goalMs, runs: values.length, detail: { runs: values, ...detail } };
}

/** A primary with `standbys` standbys, database statehub, and its multi-host URL. */
async function pgCluster(ctx: BenchContext, standbys: number): Promise<{ cluster: PgCluster; url: string; pool: pg.Pool; ids: { next: number } }> {
  const cluster = await startPgCluster({ standbys });
  ctx.cleanup.defer('pg cluster', () => cluster.close());
  await cluster.createDatabase('statehub');
  const hosts = [cluster.primary, ...cluster.standbys].map((n) => `127.0.0.1:${n.port}`).join(',');
  const url = `postgres://postgres@${hosts}/statehub?target_session_attrs=read-write`;
  const db = createDb({ connectionString: url, max: 16 }, silentLogger());
  ctx.cleanup.defer('cluster pool', () => db.close());
  const ws = await seedWorkstreams(db.pool, RATE * 40, 'planned', 'fo');
  return { cluster, url, pool: db.pool, ids: { next: ws.first } };
}

async function promotion(ctx: BenchContext): Promise<Figure[]> {
  const stalls: number[] = [];
  const follows: number[] = [];
  const baselines: number[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    const { cluster, url, pool, ids } = await pgCluster(ctx, 2);
    const nats = await benchNats(ctx.cleanup);
    const pump = await pumpOn(ctx, { DATABASE_URL: url, NATS_URL: nats.url, PUMP_WAIT_FOR_STANDBYS: '1' });
    const sampler = ackSampler(pump);
    const writer = steadyWriter(pool, ids);
    await sleep(2000);
    const b0 = nowMs();
    await sleep(10_000);
    baselines.push(sampler.gap(b0, nowMs()));
    const crashedAt = nowMs();
    await cluster.crashPrimary();
    await cluster.promoteStandby();
    const promotedAt = nowMs();
    await sleep(10_000);
    stalls.push(sampler.gap(crashedAt, nowMs()));
    follows.push((sampler.firstAfter(promotedAt) ?? Infinity) - promotedAt);
    ctx.log(`run ${i + 1}/${ctx.runs}: stall ${round(stalls.at(-1)!, 0)} ms from the crash, first ack ${round(follows.at(-1)!, 0)} ms after the promotion`);
    await writer.stop();
    await sampler.stop();
    await pump.stop();
    await cluster.close();
  }
  return [
    stallFigure(`primary crash + promotion (PUMP_WAIT_FOR_STANDBYS=1, ${RATE}/s)`, stalls, median(baselines), undefined, { baselineRuns: baselines }),
    msFigure('promotion -> first ack from the promoted standby', follows, 5000),
  ];
}

async function standbyWait(ctx: BenchContext): Promise<Figure[]> {
  const seconds = ctx.quick ? 5 : 15;
  const { url, pool, ids } = await pgCluster(ctx, 1);
  const nats = await benchNats(ctx.cleanup);
  const nc = await connect({ servers: nats.url });
  ctx.cleanup.defer('nats connection', () => nc.close());
  const measure = async (wait: number): Promise<number[]> => {
    const pump = await pumpOn(ctx, { DATABASE_URL: url, NATS_URL: nats.url, PUMP_WAIT_FOR_STANDBYS: String(wait) });
    const arrivals = new Map<number, number>();
    const sub = await subscribe(nc, STREAM, 'org.statehub.workstream.completed', (m, at) => arrivals.set((m.attributes as { workstream_id: number }).workstream_id, at));
    await sleep(200);
    const writer = steadyWriter(pool, ids);
    await sleep(1000); // warm-up, not counted
    const from = nowMs();
    await sleep(seconds * 1000);
    await writer.stop();
    const deadline = Date.now() + 30_000;
    while (arrivals.size < writer.commits.size && Date.now() < deadline) await sleep(50);
    await sub.stop();
    await pump.stop();
    return [...writer.commits].filter(([id, at]) => at >= from && arrivals.has(id)).map(([id, at]) => arrivals.get(id)! - at);
  };
  const off = await measure(0);
  const on = await measure(1);
  const figures: Figure[] = [];
  for (const p of [50, 99]) {
    const value = percentile(on, p);
    const base = percentile(off, p);
    ctx.log(`p${p}: ${round(value)} ms waiting for a standby, ${round(base)} ms without`);
    figures.push({
      bench: 'failover',
      metric: `commit -> subscriber p${p}, PUMP_WAIT_FOR_STANDBYS=1 (${on.length} events at ${RATE}/s)`,
      value: round(value),
      unit: 'ms',
      baseline: { name: 'PUMP_WAIT_FOR_STANDBYS=0, same cluster', value: round(base) },
      ratio: round(value / base, 2),
      runs: 1,
      detail: { note: 'ratio = with the wait / without (lower is better)', baselineEvents: off.length },
    });
  }
  return figures;
}

export const failoverBench: Bench = {
  name: 'failover',
  title: 'Clustered engines: stall after a stream leader kill and a promotion; latency of PUMP_WAIT_FOR_STANDBYS',
  async run(ctx: BenchContext): Promise<Figure[]> {
    return [...(await streamLeaderKill(ctx)), ...(await promotion(ctx)), ...(await standbyWait(ctx))];
  },
};
