// What the engine reads from the hub to plan a sync: the workstreams the files name or that
// came from this repo's files, their tasks that came from file lines, and the topics, repo
// goals and status rules the files refer to. Inside a file's transaction the same reads lock
// the rows they return, so the plan is made against what the writes will change.
import type { Queryable } from '../db.ts';
import type { TaskStatus, WorkstreamStatus } from '../operations/statuses.ts';
import { Transitions } from './merge.ts';
import type { Value } from './report.ts';

/** The file's values at the last agreement, per field (migrations/0006). */
export type Base = Partial<Record<string, Value>>;

export interface HubWorkstream {
  id: number;
  slug: string;
  title: string;
  status: WorkstreamStatus;
  topic: string;
  repo_id: number | null;
  repo_slug: string | null;
  repo_goal: number | null;
  /** Where it comes from; null for a workstream made through the API. */
  source: { repo_id: number; repo_slug: string; path: string; base: Base } | null;
}

export interface HubTask {
  id: number;
  workstream_id: number;
  key: string;
  title: string;
  status: TaskStatus;
  base: Base;
}

export interface HubState {
  /** By slug. */
  workstreams: Map<string, HubWorkstream>;
  /** Tasks from file lines, by workstream id, then key. */
  tasks: Map<number, Map<string, HubTask>>;
  /** Topic ids by slug, for the topics the files name. */
  topics: Map<string, number>;
  /** The repo of each goal the files name. */
  goalRepos: Map<number, number>;
  transitions: Transitions;
}

/** File tasks fetched at a time. */
const TASK_PAGE = 2000;

/**
 * The workstreams with these slugs and, with `repoId`, every one that came from that repo's
 * files; `lock` takes their row locks (and their file tasks') for the rest of the transaction.
 * `q` must be in a transaction (the tasks are read through a cursor).
 */
export async function readWorkstreams(q: Queryable, slugs: string[], repoId: number | null, lock: boolean): Promise<Pick<HubState, 'workstreams' | 'tasks'>> {
  const ws = await q.query<Omit<HubWorkstream, 'source'> & { source_repo_id: number | null; source_repo_slug: string; source_path: string; source_base: Base }>(
    `SELECT w.id, w.slug, w.title, w.status, tp.slug AS topic, w.repo_id, r.slug AS repo_slug, w.repo_goal_id AS repo_goal,
            s.repo_id AS source_repo_id, sr.slug AS source_repo_slug, s.path AS source_path, s.base AS source_base
       FROM statehub.workstreams w
       JOIN statehub.topics tp ON tp.id = w.topic_id
       LEFT JOIN statehub.repos r ON r.id = w.repo_id
       LEFT JOIN statehub.workplan_workstreams s ON s.workstream_id = w.id
       LEFT JOIN statehub.repos sr ON sr.id = s.repo_id
      WHERE w.id IN (SELECT id FROM statehub.workstreams WHERE slug = ANY($1::text[])
                     UNION ALL
                     SELECT workstream_id FROM statehub.workplan_workstreams WHERE repo_id = $2)
      ORDER BY w.id
      ${lock ? 'FOR UPDATE OF w' : ''}`,
    [slugs, repoId],
  );
  const workstreams = new Map<string, HubWorkstream>();
  for (const { source_repo_id, source_repo_slug, source_path, source_base, ...w } of ws.rows) {
    workstreams.set(w.slug, { ...w, source: source_repo_id === null ? null : { repo_id: source_repo_id, repo_slug: source_repo_slug, path: source_path, base: source_base } });
  }
  const ids = ws.rows.filter((w) => w.source_repo_id !== null).map((w) => w.id);
  const tasks = new Map<number, Map<string, HubTask>>();
  if (ids.length === 0) return { workstreams, tasks };
  // Fetched a page at a time: a repo of 2,000 files may have four million tasks, and the rows
  // of one answer are parsed as they arrive, megabytes per turn of the event loop. Locks are
  // taken as rows are fetched, in id order.
  await q.query(
    `DECLARE sync_file_tasks NO SCROLL CURSOR FOR
     SELECT k.task_id AS id, k.workstream_id, k.key, k.base, t.title, t.status
       FROM statehub.workplan_tasks k
       JOIN statehub.tasks t ON t.id = k.task_id
      WHERE k.workstream_id = ANY($1::bigint[])
      ORDER BY k.task_id
      ${lock ? 'FOR UPDATE OF t' : ''}`,
    [ids],
  );
  for (;;) {
    const page = await q.query<HubTask>(`FETCH ${TASK_PAGE} FROM sync_file_tasks`);
    for (const task of page.rows) {
      let byKey = tasks.get(task.workstream_id);
      if (!byKey) tasks.set(task.workstream_id, (byKey = new Map()));
      byKey.set(task.key, task);
    }
    if (page.rows.length < TASK_PAGE) break;
  }
  await q.query('CLOSE sync_file_tasks');
  return { workstreams, tasks };
}

/** Everything a sync of one repo plans against, read once without locks, in `q`'s transaction. */
export async function readState(q: Queryable, repoId: number, slugs: string[], topics: string[], goals: number[]): Promise<HubState> {
  const { workstreams, tasks } = await readWorkstreams(q, slugs, repoId, false);
  const tp = await q.query<{ slug: string; id: number }>('SELECT slug, id FROM statehub.topics WHERE slug = ANY($1::text[])', [topics]);
  const rg = await q.query<{ id: number; repo_id: number }>('SELECT id, repo_id FROM statehub.repo_goals WHERE id = ANY($1::bigint[])', [goals]);
  const tr = await q.query<{ entity: string; from_status: string | null; to_status: string }>(
    `SELECT entity, from_status, to_status FROM statehub.status_transitions WHERE entity IN ('workstream', 'task')`,
  );
  return {
    workstreams,
    tasks,
    topics: new Map(tp.rows.map((r) => [r.slug, r.id])),
    goalRepos: new Map(rg.rows.map((r) => [r.id, r.repo_id])),
    transitions: new Transitions(tr.rows),
  };
}
