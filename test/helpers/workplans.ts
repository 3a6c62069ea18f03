// Repos with real workplan files in temporary directories, for the consistency engine's tests:
// a root (WORKPLAN_ROOTS), a repo registered in the hub whose local_path is a checkout under
// it, a topic and a repo goal, and functions to write files and run a sync.
import { mkdtempSync, mkdirSync, realpathSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db } from '../../src/db.ts';
import { noSettings, type Settings } from '../../src/operations/operation.ts';
import { syncRepo, type SyncOptions } from '../../src/sync/engine.ts';
import type { SyncReport } from '../../src/sync/report.ts';

export interface Front {
  id?: string;
  title?: string;
  status?: string;
  topic?: string;
  repo_goal?: number;
}

/** A workplan file's text: front matter from `front` (unset keys left out), then the task lines. */
export function workplanText(front: Front, tasks: string[] = [], body = 'Free text, ignored by the engine.\n'): string {
  const fm = Object.entries(front)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  return `---\n${fm}\n---\n${body}\n## Tasks\n${tasks.map((t) => `${t}\n`).join('')}`;
}

export interface SyncRepoFixture {
  /** The real directory WORKPLAN_ROOTS names. */
  root: string;
  /** The repo's checkout (its local_path). */
  dir: string;
  slug: string;
  repoId: number;
  topic: string;
  goalId: number;
  settings: Settings;
  /** Writes workplans/<name>. */
  write(name: string, text: string): string;
  remove(name: string): void;
  sync(options?: Partial<SyncOptions>): Promise<SyncReport>;
}

let n = 0;

/** A registered repo with an empty workplans/ folder under a fresh root. */
export async function makeSyncRepo(db: Db, root?: string): Promise<SyncRepoFixture> {
  const base = root ?? realpathSync(mkdtempSync(path.join(tmpdir(), 'statehub-sync-')));
  const slug = `repo-${process.pid}-${++n}`;
  const dir = path.join(base, slug);
  mkdirSync(path.join(dir, 'workplans'), { recursive: true });
  const one = async (sql: string, params: unknown[]) => (await db.query<{ id: number }>(sql, params)).rows[0]!.id;
  const domain = await one('INSERT INTO statehub.domains (slug, name) VALUES ($1, $1) RETURNING id', [`dom-${slug}`]);
  const repoId = await one('INSERT INTO statehub.repos (slug, domain_id, local_path) VALUES ($1, $2, $3) RETURNING id', [slug, domain, dir]);
  const topic = `topic-${slug}`;
  await one('INSERT INTO statehub.topics (slug, title) VALUES ($1, $1) RETURNING id', [topic]);
  const goalId = await one("INSERT INTO statehub.repo_goals (repo_id, title) VALUES ($1, 'ship it') RETURNING id", [repoId]);
  const settings: Settings = { ...noSettings, workplanRoots: [base] };
  return {
    root: base,
    dir,
    slug,
    repoId,
    topic,
    goalId,
    settings,
    write(name, text) {
      const file = path.join(dir, 'workplans', name);
      writeFileSync(file, text);
      return file;
    },
    remove(name) {
      unlinkSync(path.join(dir, 'workplans', name));
    },
    sync: (options = {}) => syncRepo(db, settings, slug, { dryRun: false, prune: false, ...options }),
  };
}

/** Removes the roots the fixtures made. */
export function removeRoots(fixtures: SyncRepoFixture[]): void {
  for (const root of new Set(fixtures.map((f) => f.root))) rmSync(root, { recursive: true, force: true });
}

/** For a describe(): repo() makes a fixture on t.db (under `root` when given); all roots go in after(). */
export function useSyncRepos(t: { readonly db: Db }): (root?: string) => Promise<SyncRepoFixture> {
  const made: SyncRepoFixture[] = [];
  after(() => removeRoots(made));
  return async (root) => {
    const r = await makeSyncRepo(t.db, root);
    made.push(r);
    return r;
  };
}
