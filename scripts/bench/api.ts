// 5. API: GET /workstreams/:id and PATCH /workstreams/:id (a title change, not a transition)
// with autocannon at 50 connections, against a bare Express 5 + pg handler in the same run.
// Both servers run as child processes (api-server.ts) with a 10-connection pool, so the load
// generator does not share their event loop. The bare PATCH is one statement (UPDATE ...
// RETURNING joined in a CTE); a second bare PATCH sends exactly the app's transaction
// (BEGIN, UPDATE, SELECT, COMMIT), which splits the gap into round trips and framework.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import autocannon from 'autocannon';
import { benchDatabase, ROOT, seedWorkstreams } from './lib/env.ts';
import type { Cleanup } from './lib/cleanup.ts';
import { median, round } from './lib/stats.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

interface Server {
  port: number;
  proc: ChildProcess;
}

async function startServer(cleanup: Cleanup, mode: 'app' | 'bare', url: string, env: Record<string, string> = {}): Promise<Server> {
  const proc = fork(path.join(ROOT, 'scripts/bench/api-server.ts'), [mode], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, DATABASE_URL: url },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  cleanup.defer(`api server (${mode}) ${proc.pid}`, async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await exited;
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('message', (m) => resolve((m as { port: number }).port));
    proc.once('exit', (code) => reject(new Error(`api server (${mode}) exited with ${code}`)));
  });
  return { port, proc };
}

interface Load {
  rps: number;
  p99: number;
}

async function load(port: number, method: 'GET' | 'PATCH', prefix: string, ids: { first: number; last: number }, seconds: number): Promise<Load> {
  const span = ids.last - ids.first + 1;
  let n = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 50,
    duration: seconds,
    requests: [
      {
        method,
        setupRequest: (req) => {
          const id = ids.first + Math.floor(Math.random() * span);
          if (method === 'GET') return { ...req, path: `${prefix}/workstreams/${id}` };
          return {
            ...req,
            path: `${prefix}/workstreams/${id}`,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ title: `Benchmark title ${++n}` }),
          };
        },
      },
    ],
  });
  if (result.errors || result.timeouts || result.non2xx) {
    throw new Error(`${method} ${prefix || 'app'}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx responses`);
  }
  return { rps: result.requests.average, p99: result.latency.p99 };
}

export const apiBench: Bench = {
  name: 'api',
  title: 'API requests/s and p99 vs a bare Express 5 + pg handler (autocannon, 50 connections)',
  async run(ctx: BenchContext): Promise<Figure[]> {
    const seconds = ctx.quick ? 3 : 10;
    const db = await benchDatabase(ctx.cleanup, 2);
    const ids = await seedWorkstreams(db.pool, 10_000, 'active', 'api');
    await db.pool.query('VACUUM (ANALYZE)');
    const app = await startServer(ctx.cleanup, 'app', db.url);
    const bare = await startServer(ctx.cleanup, 'bare', db.url);

    type Case = { key: string; server: Server; method: 'GET' | 'PATCH'; prefix: string };
    const cases: Case[] = [
      { key: 'get-app', server: app, method: 'GET', prefix: '' },
      { key: 'get-bare', server: bare, method: 'GET', prefix: '' },
      { key: 'patch-app', server: app, method: 'PATCH', prefix: '' },
      { key: 'patch-bare', server: bare, method: 'PATCH', prefix: '' },
      { key: 'patch-bare-tx', server: bare, method: 'PATCH', prefix: '/tx' },
    ];
    ctx.log('warm-up');
    for (const c of cases) await load(c.server.port, c.method, c.prefix, ids, 2);

    const got = new Map<string, Load[]>();
    for (let i = 0; i < ctx.runs; i++) {
      const order = cases.map((_, k) => cases[(k + i) % cases.length]!);
      for (const c of order) {
        const r = await load(c.server.port, c.method, c.prefix, ids, seconds);
        got.set(c.key, [...(got.get(c.key) ?? []), r]);
        ctx.log(`run ${i + 1}/${ctx.runs} ${c.key}: ${round(r.rps, 0)} req/s, p99 ${r.p99} ms`);
      }
    }

    const rps = (k: string) => median(got.get(k)!.map((r) => r.rps));
    const p99 = (k: string) => median(got.get(k)!.map((r) => r.p99));
    const figures: Figure[] = [];
    const pairs: Array<[string, string, string, boolean]> = [
      ['GET /workstreams/:id', 'get-app', 'get-bare', true],
      ['PATCH /workstreams/:id (title)', 'patch-app', 'patch-bare', true],
      ['PATCH /workstreams/:id vs bare with the same 4 statements', 'patch-app', 'patch-bare-tx', false],
    ];
    for (const [metric, k, base, withGoal] of pairs) {
      const ratio = rps(k) / rps(base);
      figures.push({
        bench: 'api',
        metric: `${metric} req/s`,
        value: round(rps(k), 0),
        unit: 'req/s',
        baseline: { name: base, value: round(rps(base), 0) },
        ratio: round(ratio, 3),
        ...(withGoal ? { goal: '>= 0.8 x bare', met: ratio >= 0.8 } : {}),
        runs: ctx.runs,
        detail: { runs: got.get(k)!.map((r) => r.rps), baselineRuns: got.get(base)!.map((r) => r.rps) },
      });
      if (!withGoal) continue;
      figures.push({
        bench: 'api',
        metric: `${metric} p99`,
        value: p99(k),
        unit: 'ms',
        baseline: { name: base, value: p99(base) },
        ratio: round(p99(base) / p99(k), 3),
        runs: ctx.runs,
        detail: { note: 'ratio = bare p99 / app p99 (higher is better)', runs: got.get(k)!.map((r) => r.p99), baselineRuns: got.get(base)!.map((r) => r.p99) },
      });
    }
    return figures;
  },
};
