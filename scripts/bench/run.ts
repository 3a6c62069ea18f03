// npm run bench [-- [--quick] [--runs N] [name ...]]
// Runs the benchmarks of issue 5 against a throwaway database on the shared PostgreSQL and a
// private nats-server, prints one table and writes bench-results/<timestamp>.json.
// Names: pump latency capture scale api recovery sync longtx longkey failover (default: all, in that order).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { apiBench } from './api.ts';
import { captureBench, pgbenchPath } from './capture.ts';
import { failoverBench } from './failover.ts';
import { latencyBench } from './latency.ts';
import { longKeyBench } from './longkey.ts';
import { longTxBench } from './longtx.ts';
import { pumpBench } from './pump.ts';
import { recoveryBench } from './recovery.ts';
import { scaleBench } from './scale.ts';
import { syncBench } from './sync.ts';
import { Cleanup } from './lib/cleanup.ts';
import { ROOT } from './lib/env.ts';
import { describeMachine } from './lib/machine.ts';
import type { Bench, Figure } from './lib/types.ts';

const BENCHES: Bench[] = [pumpBench, latencyBench, captureBench, scaleBench, apiBench, recoveryBench, syncBench, longTxBench, longKeyBench, failoverBench];

function usage(): never {
  console.error(`usage: npm run bench -- [--quick] [--runs N] [${BENCHES.map((b) => b.name).join('|')} ...]`);
  process.exit(2);
}

function parseArgs(argv: string[]): { quick: boolean; runs: number | undefined; names: string[] } {
  let quick = false;
  let runs: number | undefined;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--runs') {
      runs = Number(argv[++i]);
      if (!Number.isInteger(runs) || runs < 1 || runs > 20) usage();
    } else if (a === '--help' || a === '-h') usage();
    else if (BENCHES.some((b) => b.name === a)) names.push(a);
    else usage();
  }
  return { quick, runs, names };
}

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  return Math.abs(n) >= 100 ? String(Math.round(n)) : String(Math.round(n * 1000) / 1000);
}

function printTable(figures: Figure[]): void {
  const rows = [['bench', 'metric', 'value', 'unit', 'baseline', 'ratio', 'goal', 'met', 'runs']];
  for (const f of figures) {
    rows.push([
      f.bench,
      f.metric,
      fmt(f.value),
      f.unit,
      f.baseline ? `${fmt(f.baseline.value)} ${f.baseline.name}` : '',
      fmt(f.ratio),
      f.goal ?? '',
      f.met === undefined ? '' : f.met ? 'yes' : 'NO',
      String(f.runs),
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  console.log(line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const selected = args.names.length ? BENCHES.filter((b) => args.names.includes(b.name)) : BENCHES;
  const runs = args.runs ?? (args.quick ? 1 : 3);
  const started = new Date();
  const machine = await describeMachine(selected.some((b) => b.name === 'capture') ? pgbenchPath() : undefined);
  console.log(`state-hub benchmarks (${args.quick ? 'quick' : 'full'}, ${runs} run(s) per median) on ${machine.nproc} cores, load ${machine.loadAverage.join(' ')}`);

  const figures: Figure[] = [];
  const errors: Array<{ bench: string; error: string }> = [];
  let current: Cleanup | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\n${signal}: cleaning up`);
    void (current?.runAll() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  for (const bench of selected) {
    const cleanup = new Cleanup();
    current = cleanup;
    const t0 = performance.now();
    console.log(`\n== ${bench.name}: ${bench.title}`);
    try {
      const got = await bench.run({ quick: args.quick, runs, cleanup, log: (m) => console.log(`   ${m}`) });
      figures.push(...got);
    } catch (err) {
      const e = err as Error;
      errors.push({ bench: bench.name, error: e.stack ?? e.message });
      console.error(`   ${bench.name} FAILED: ${e.stack ?? e.message}`);
    } finally {
      await cleanup.runAll();
    }
    console.log(`   (${Math.round((performance.now() - t0) / 1000)} s)`);
  }

  console.log('');
  printTable(figures);
  const out = path.join(ROOT, 'bench-results');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  const finished = new Date();
  writeFileSync(
    file,
    `${JSON.stringify({ started, finished, seconds: Math.round((+finished - +started) / 1000), quick: args.quick, runs, benches: selected.map((b) => b.name), machine, figures, errors }, null, 2)}\n`,
  );
  console.log(`\nwrote ${path.relative(process.cwd(), file)} (${Math.round((+finished - +started) / 1000)} s)`);
  if (errors.length) console.error(`failed: ${errors.map((e) => e.bench).join(', ')}`);
  return errors.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
