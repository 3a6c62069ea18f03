// Runs a file's plan inside its transaction, as ordinary writes: the status rules, reference
// rules and event capture of the database apply to them as to any other writer.
//
// Two ways to run it. Fast: steps of one kind run as one statement (all new tasks in one
// INSERT, all status changes in one UPDATE); a refusal aborts the transaction, and the file is
// run again carefully: each step alone inside a savepoint, so a refused step is reported as a
// conflict and leaves its item as it was while the other steps go through.
import { isDeepStrictEqual } from 'node:util';
import type { Queryable } from '../db.ts';
import { toOperationError } from '../operations/errors.ts';
import type { FilePlan, SourcePlan, Step } from './plan.ts';

export interface Applied {
  /** Steps the database refused, with its reason. */
  refused: Map<Step, string>;
  /** Steps not run because the row they change could not be created. */
  skipped: Set<Step>;
}

/** An error that means the database refused a write (a rule, a constraint), not that it failed. */
export function isRefusal(err: unknown): boolean {
  const known = toOperationError(err);
  return known !== undefined && ['conflict', 'invalid', 'unknown_reference'].includes(known.kind);
}

/** Consecutive steps of one kind and column, which one statement can run together. */
function batches(steps: Step[], careful: boolean): Step[][] {
  const out: Step[][] = [];
  for (const s of steps) {
    const last = out.at(-1);
    if (!careful && last && last[0]!.kind === s.kind && last[0]!.column === s.column && s.kind !== 'createWorkstream') last.push(s);
    else out.push([s]);
  }
  return out;
}

interface Ids {
  workstream: number | null;
  tasks: Map<string, number>;
}

async function run(q: Queryable, batch: Step[], ids: Ids): Promise<void> {
  const first = batch[0]!;
  switch (first.kind) {
    case 'createWorkstream': {
      const v = first.values!;
      const { rows } = await q.query<{ id: number }>(
        'INSERT INTO statehub.workstreams (slug, title, topic_id, repo_id, repo_goal_id) VALUES ($1, $2, $3, $4, $5) RETURNING id',
        [v.slug, v.title, v.topic_id, v.repo_id, v.repo_goal_id],
      );
      ids.workstream = rows[0]!.id;
      return;
    }
    case 'setWorkstream':
      // The column comes from the plan's fixed list, never from input.
      await q.query(`UPDATE statehub.workstreams SET ${first.column} = $2 WHERE id = $1`, [ids.workstream, first.value]);
      return;
    case 'createTask': {
      // Identity values are drawn in the order the SELECT produces its rows, so the new ids,
      // sorted, line up with the keys.
      const { rows } = await q.query<{ id: number }>(
        `INSERT INTO statehub.tasks (workstream_id, title)
         SELECT $1, u.title FROM unnest($2::text[]) WITH ORDINALITY AS u(title, n) ORDER BY u.n
         RETURNING id`,
        [ids.workstream, batch.map((s) => s.values!.title)],
      );
      const created = rows.map((r) => r.id).sort((a, b) => a - b);
      batch.forEach((s, i) => ids.tasks.set(s.key!, created[i]!));
      return;
    }
    case 'setTask': {
      const cast = first.column === 'status' ? '::statehub.task_status' : '';
      await q.query(
        `UPDATE statehub.tasks t SET ${first.column} = v.value${cast}
           FROM unnest($1::bigint[], $2::text[]) AS v(id, value) WHERE t.id = v.id`,
        [batch.map((s) => ids.tasks.get(s.key!)), batch.map((s) => s.value)],
      );
      return;
    }
  }
}

/** Runs the steps; fast unless `careful`. A fast run throws the first refusal. */
export async function applySteps(q: Queryable, plan: FilePlan, careful: boolean): Promise<Applied> {
  const ids: Ids = { workstream: plan.workstream!.id, tasks: new Map() };
  for (const [key, t] of plan.tasks) if (t.id !== null) ids.tasks.set(key, t.id);
  const applied: Applied = { refused: new Map(), skipped: new Set() };
  for (const batch of batches(plan.steps, careful)) {
    const live = batch.filter((s) => s.kind === 'createWorkstream' || (ids.workstream !== null && (s.kind !== 'setTask' || ids.tasks.has(s.key!))));
    for (const s of batch) if (!live.includes(s)) applied.skipped.add(s);
    if (live.length === 0) continue;
    if (!careful) {
      await run(q, live, ids);
      continue;
    }
    await q.query('SAVEPOINT sync_step');
    try {
      await run(q, live, ids);
      await q.query('RELEASE SAVEPOINT sync_step');
    } catch (err) {
      if (!isRefusal(err)) throw err;
      await q.query('ROLLBACK TO SAVEPOINT sync_step');
      applied.refused.set(live[0]!, toOperationError(err)!.message);
    }
  }
  plan.workstream!.id = ids.workstream;
  for (const [key, t] of plan.tasks) t.id = ids.tasks.get(key) ?? null;
  // What the done steps wrote becomes the base.
  for (const s of plan.steps) {
    if (!s.base || applied.refused.has(s) || applied.skipped.has(s)) continue;
    const target = s.key === undefined ? plan.workstream!.base : plan.tasks.get(s.key)!.base;
    target[s.base.field] = s.base.value;
  }
  return applied;
}

const changed = (t: SourcePlan) => t.stored === undefined || !isDeepStrictEqual(t.base, t.stored);
const sourceChanged = (plan: FilePlan) => changed(plan.workstream!) || plan.workstream!.pathBefore !== plan.path;

/** Whether running the plan changes anything: a step to run, or a source row to write. */
export function hasWrites(plan: FilePlan): boolean {
  return plan.workstream !== null && (plan.steps.length > 0 || sourceChanged(plan) || [...plan.tasks.values()].some(changed));
}

/** Records where the workstream and its tasks come from, and their new bases, where that changed. */
export async function writeSources(q: Queryable, plan: FilePlan, repoId: number): Promise<void> {
  const ws = plan.workstream!;
  if (ws.id === null) return;
  if (sourceChanged(plan)) {
    await q.query(
      `INSERT INTO statehub.workplan_workstreams (workstream_id, repo_id, path, base) VALUES ($1, $2, $3, $4)
       ON CONFLICT (workstream_id) DO UPDATE SET repo_id = EXCLUDED.repo_id, path = EXCLUDED.path, base = EXCLUDED.base`,
      [ws.id, repoId, plan.path, ws.base],
    );
  }
  const tasks = [...plan.tasks].filter(([, t]) => t.id !== null && changed(t));
  if (tasks.length === 0) return;
  await q.query(
    `INSERT INTO statehub.workplan_tasks (task_id, workstream_id, key, base)
     SELECT u.task_id, $1, u.key, u.base FROM unnest($2::bigint[], $3::text[], $4::jsonb[]) AS u(task_id, key, base)
     ON CONFLICT (task_id) DO UPDATE SET base = EXCLUDED.base`,
    [ws.id, tasks.map(([, t]) => t.id), tasks.map(([key]) => key), tasks.map(([, t]) => JSON.stringify(t.base))],
  );
}
