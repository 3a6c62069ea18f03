// 7. The consistency engine on a 500-file repo (5 tasks per file): the first sync (creates
// 500 workstreams and 2,500 tasks), a dry run, a re-sync of unchanged files, and a re-sync
// after 50 files changed one box each. Baseline, same run: reading and parsing the same files
// in a reader thread without the database, the floor under any sync of them. Each run uses a
// fresh repo.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDb } from '../../src/db.ts';
import { silentLogger } from '../../src/logger.ts';
import { syncRepo } from '../../src/sync/engine.ts';
import { noSettings } from '../../src/operations/operation.ts';
import { listWorkplanFiles, repoDirectory } from '../../src/sync/files.ts';
import { readInThread } from '../../src/sync/readers.ts';
import { benchDatabase } from './lib/env.ts';
import { median, round } from './lib/stats.ts';
import type { Bench, Figure } from './lib/types.ts';

const FILES = 500;
const TASKS = 5;
const CHANGED = 50;

function text(id: string, title: string, boxes: string[]): string {
  const tasks = boxes.map((b, i) => `- [${b}] T${String(i + 1).padStart(2, '0')} Task ${i + 1} of ${id}`).join('\n');
  return `---\nid: ${id}\ntitle: ${title}\nstatus: active\ntopic: bench\n---\nContext.\n\n## Tasks\n${tasks}\n`;
}

export const syncBench: Bench = {
  name: 'sync',
  title: `consistency engine: ${FILES} workplan files of ${TASKS} tasks`,
  async run({ quick, runs, cleanup, log }) {
    const files = quick ? 100 : FILES;
    const db = await benchDatabase(cleanup);
    const hub = createDb({ connectionString: db.url, max: 4 }, silentLogger());
    cleanup.defer('sync bench pool', () => hub.close());
    const root = realpathSync(mkdtempSync(path.join(tmpdir(), 'statehub-bench-sync-')));
    cleanup.defer('sync bench files', () => rmSync(root, { recursive: true, force: true }));
    await db.pool.query(`INSERT INTO statehub.domains (slug, name) VALUES ('bench', 'Bench')`);
    await db.pool.query(`INSERT INTO statehub.topics (slug, title) VALUES ('bench', 'Bench')`);
    const settings = { ...noSettings, workplanRoots: [root] };

    const samples: Record<string, number[]> = { floor: [], first: [], dry: [], unchanged: [], changed: [] };
    const time = async (name: string, fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      samples[name]!.push(performance.now() - t0);
    };
    for (let run = 1; run <= runs; run++) {
      const slug = `bench-${run}`;
      const dir = path.join(root, slug);
      mkdirSync(path.join(dir, 'workplans'), { recursive: true });
      const ids = Array.from({ length: files }, (_, i) => `B${run}-WP-${i + 1}`);
      for (const id of ids) writeFileSync(path.join(dir, 'workplans', `${id}-plan.md`), text(id, `Plan ${id}`, [' ', '/', 'x', ' ', '-']));
      await db.pool.query(`INSERT INTO statehub.repos (slug, domain_id, local_path) SELECT $1, id, $2 FROM statehub.domains WHERE slug = 'bench'`, [slug, dir]);

      await time('floor', async () => {
        const { dir: real, roots } = await repoDirectory({ slug, local_path: dir }, settings.workplanRoots);
        await readInThread((await listWorkplanFiles(real, roots))!, roots, settings.readBudgetMs);
      });
      await time('dry', () => syncRepo(hub, settings, slug, { dryRun: true, prune: false }));
      await time('first', () => syncRepo(hub, settings, slug, { dryRun: false, prune: false }));
      await time('unchanged', () => syncRepo(hub, settings, slug, { dryRun: false, prune: false }));
      for (const id of ids.slice(0, CHANGED)) writeFileSync(path.join(dir, 'workplans', `${id}-plan.md`), text(id, `Plan ${id}`, ['x', '/', 'x', ' ', '-']));
      let report: Awaited<ReturnType<typeof syncRepo>> | undefined;
      await time('changed', async () => (report = await syncRepo(hub, settings, slug, { dryRun: false, prune: false })));
      if (report!.summary.updated !== CHANGED) throw new Error(`expected ${CHANGED} updated files, got ${JSON.stringify(report!.summary)}`);
      log(`run ${run}: ${Object.entries(samples).map(([k, v]) => `${k} ${round(v.at(-1)!, 1)} ms`).join(', ')}`);
    }

    const floor = median(samples.floor!);
    const figure = (key: string, metric: string, goal?: { text: string; ms: number }): Figure => {
      const value = round(median(samples[key]!), 1);
      return {
        bench: 'sync',
        metric,
        value,
        unit: 'ms',
        baseline: { name: 'read + parse only', value: round(floor, 1) },
        ratio: round(value / floor, 2),
        ...(goal ? { goal: goal.text, met: value < goal.ms } : {}),
        runs,
        detail: { samples: samples[key], files, tasksPerFile: TASKS },
      };
    };
    return [
      figure('first', `first sync, ${files} files created`),
      figure('dry', `dry run before the first sync`),
      figure('unchanged', `re-sync, nothing changed`, { text: '< 1000 ms', ms: 1000 }),
      figure('changed', `re-sync, ${CHANGED} files changed`, { text: '< 1000 ms', ms: 1000 }),
    ];
  },
};
