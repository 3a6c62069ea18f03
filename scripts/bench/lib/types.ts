// The shape every benchmark module returns, which the runner prints as a table and writes as JSON.
import type { Cleanup } from './cleanup.ts';

export interface Figure {
  /** Benchmark name, e.g. "capture". */
  bench: string;
  /** What was measured, e.g. "(b) real transitions, 8 clients". */
  metric: string;
  /** Median over `runs`. */
  value: number;
  unit: string;
  /** The same-run baseline it is compared with, when there is one. */
  baseline?: { name: string; value: number };
  /** value / baseline.value (or the inverse for latencies, as `ratioNote` says). */
  ratio?: number;
  goal?: string;
  met?: boolean;
  runs: number;
  /** Every run's value, and anything else worth keeping. */
  detail?: Record<string, unknown>;
}

export interface BenchContext {
  quick: boolean;
  /** Repetitions for figures reported as medians. */
  runs: number;
  cleanup: Cleanup;
  log(message: string): void;
}

export interface Bench {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}
