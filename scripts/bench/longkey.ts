// 9. Head-of-line blocking. One key's events are published one at a time (order per key), so a
// key with 5,000 events (a stale-task sweep under one workstream) takes a while to drain. Right
// after it commits, 5,000 events of 5,000 other keys commit. Measured: from their commit until
// the last of them arrived at a subscriber. Baseline, same run: the same 5,000 single-key events
// with no long key ahead of them. Rows are written into the outbox directly: this measures
// delivery, not capture.
import { benchDatabase, benchNats, natsConnection, startPumpChild } from './lib/env.ts';
import { nowMs, round, sleep } from './lib/stats.ts';
import { subscribe } from './lib/subscriber.ts';
import type { Bench, BenchContext, Figure } from './lib/types.ts';

const STREAM = 'BENCH_LONGKEY';
const SUBJECT = 'org.statehub.workstream.completed';

const INSERT = `INSERT INTO statehub.outbox (subject, ordering_key, attributes)
  SELECT '${SUBJECT}', CASE WHEN $4 THEN 'workstream:' || g ELSE $1 END,
         jsonb_build_object('workstream_id', g, 'slug', 'ws-' || g, 'title', 'Workstream ' || g, 'topic_id', 1, 'repo_id', null, 'repo_goal_id', null)
    FROM generate_series($2::int + 1, $2::int + $3::int) AS g`;

export const longKeyBench: Bench = {
  name: 'longkey',
  title: 'One key with 5,000 events ahead of 5,000 single-event keys',
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = 5000;
    const runs = ctx.runs;
    const db = await benchDatabase(ctx.cleanup, 4);
    const nats = await benchNats(ctx.cleanup);
    const pump = await startPumpChild(ctx.cleanup, { DATABASE_URL: db.url, NATS_URL: nats.url, STREAM_NAME: STREAM });
    await pump.waitForLog((l) => l.message === 'became leader: publishing');
    const nc = await natsConnection(ctx.cleanup, nats.url, 'statehub-bench-longkey');
    let offset = 0;

    /** Milliseconds from the singles' commit until the last of them arrived. */
    async function once(longFirst: boolean): Promise<number> {
      const singles = new Set<number>();
      let lastAt = 0;
      const sub = await subscribe(nc, STREAM, SUBJECT, (m, at) => {
        const id = (m.attributes as { workstream_id: number }).workstream_id;
        if (singles.delete(id)) lastAt = at;
      });
      try {
        await sleep(200);
        if (longFirst) await db.pool.query(INSERT, [`workstream:long-${offset}`, offset, size, false]);
        offset += size;
        for (let g = offset + 1; g <= offset + size; g++) singles.add(g);
        await db.pool.query(INSERT, ['', offset, size, true]);
        const committed = nowMs();
        offset += size;
        const deadline = Date.now() + 120_000;
        while (singles.size > 0 && Date.now() < deadline) await sleep(5);
        if (singles.size > 0) throw new Error(`${singles.size} single-key events did not arrive within 2 minutes`);
        // Let the long key finish before the next run.
        await sleep(longFirst ? 3000 : 200);
        return lastAt - committed;
      } finally {
        await sub.stop();
      }
    }

    const base: number[] = [];
    const behind: number[] = [];
    for (let i = 0; i < runs; i++) {
      base.push(await once(false));
      behind.push(await once(true));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    ctx.log(`single-key events out: ${behind.map((x) => round(x, 0)).join(', ')} ms behind a long key; ${base.map((x) => round(x, 0)).join(', ')} ms alone`);
    return [
      {
        bench: 'longkey',
        metric: `${size} single-key events committed right after one key's ${size}: all arrived`,
        value: round(median(behind)),
        unit: 'ms',
        baseline: { name: 'same events, no long key ahead', value: round(median(base)) },
        ratio: round(median(behind) / median(base), 2),
        runs,
      },
    ];
  },
};
