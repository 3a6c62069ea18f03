// Plans the sync of one workplan file against the hub: what to create, which fields to write
// (merged three-way, merge.ts), and what to report. Pure: the plan is data, apply.ts runs it,
// and a dry run reports it as it stands. Steps are in the order they must run: the workstream,
// then its tasks, then the workstream's status, so that a file which adds tasks and completes
// its workstream adds them while the workstream still takes tasks.
import type { Parsed } from './parse.ts';
import { mergeField } from './merge.ts';
import type { Change, Conflict, Behind, Field, LineError, Missing, Value } from './report.ts';
import type { Base, HubState, HubTask, HubWorkstream } from './state.ts';

export interface Step {
  kind: 'createWorkstream' | 'setWorkstream' | 'createTask' | 'setTask';
  item: string;
  /** The task's key (task steps). */
  key?: string;
  /** The column written (set steps) and its value. */
  column?: 'title' | 'status' | 'topic_id' | 'repo_goal_id' | 'repo_id';
  value?: unknown;
  /** The new row (create steps). */
  values?: Record<string, unknown>;
  /** Reported when it is done. */
  change: Change;
  /** Reported instead, with the database's reason, when the database refuses it. */
  conflict: Omit<Conflict, 'reason'>;
  /** The base field that becomes the file's value when it is done. */
  base?: { field: Field; value: Value };
}

export interface SourcePlan {
  /** Null until created. */
  id: number | null;
  base: Base;
  /** The base as stored; undefined when no source row exists yet. */
  stored: Base | undefined;
}

export interface FilePlan {
  path: string;
  workplanId: string | null;
  steps: Step[];
  /** Null for an invalid file. */
  workstream: (SourcePlan & { slug: string; pathBefore: string | null }) | null;
  tasks: Map<string, SourcePlan>;
  changes: Change[];
  conflicts: Conflict[];
  behind: Behind[];
  errors: LineError[];
  /** Tasks of this file's workstream that came from lines now gone. */
  missing: Missing[];
}

export interface FileInput {
  path: string;
  parsed: Parsed;
}

export interface PlanContext {
  repo: { id: number; slug: string };
  state: HubState;
  /** For each workplan id, the one file of this sync that may declare it. */
  owners: Map<string, string>;
  prune: boolean;
}

const BOTH_CHANGED = 'changed in both the file and the hub since the last sync';
const OPEN_TASK = new Set(['todo', 'in_progress', 'blocked']);
const FINISHED = new Set(['completed', 'cancelled']);
const OPEN_WORKSTREAM = new Set(['planned', 'active', 'blocked']);

/** The problems a valid file has against the hub: unknown references, ids owned elsewhere. */
function hubErrors(file: FileInput, ctx: PlanContext, ws: HubWorkstream | undefined): LineError[] {
  const wp = file.parsed.workplan!;
  const errors: LineError[] = [];
  if (!ctx.state.topics.has(wp.topic)) errors.push({ line: wp.lines.topic, message: `topic ${wp.topic} does not exist` });
  if (wp.repoGoal !== null) {
    const goalRepo = ctx.state.goalRepos.get(wp.repoGoal);
    if (goalRepo === undefined) errors.push({ line: wp.lines.repoGoal, message: `repo goal ${wp.repoGoal} does not exist` });
    else if (goalRepo !== ctx.repo.id) errors.push({ line: wp.lines.repoGoal, message: `repo goal ${wp.repoGoal} is a goal of another repo` });
  }
  const owner = ctx.owners.get(wp.id);
  if (owner !== file.path) errors.push({ line: wp.lines.id, message: `${wp.id} is also the id of ${owner}: each workplan needs its own id` });
  else if (ws?.source && ws.source.repo_id !== ctx.repo.id) {
    errors.push({ line: wp.lines.id, message: `${wp.id} is already the workstream of a workplan file in repo ${ws.source.repo_slug}` });
  } else if (ws && !ws.source && ws.repo_id !== null && ws.repo_id !== ctx.repo.id) {
    errors.push({ line: wp.lines.id, message: `${wp.id} is already a workstream of repo ${ws.repo_slug}` });
  }
  return errors;
}

export function planFile(file: FileInput, ctx: PlanContext): FilePlan {
  const { parsed } = file;
  const wp = parsed.workplan;
  const ws = parsed.id === null ? undefined : ctx.state.workstreams.get(parsed.id.toLowerCase());
  const plan: FilePlan = {
    path: file.path,
    workplanId: parsed.id,
    steps: [],
    workstream: null,
    tasks: new Map(),
    changes: [],
    conflicts: [],
    behind: [],
    errors: wp ? hubErrors(file, ctx, ws) : parsed.problems,
    missing: [],
  };
  if (!wp || plan.errors.length) return plan;

  const item = wp.id;
  const topicId = ctx.state.topics.get(wp.topic)!;
  let hub: { title: string; status: string; topic: string; repo_goal: number | null };
  if (ws) {
    hub = { title: ws.title, status: ws.status, topic: ws.topic, repo_goal: ws.repo_goal };
    plan.workstream = { id: ws.id, slug: ws.slug, base: { ...ws.source?.base }, stored: ws.source?.base, pathBefore: ws.source?.path ?? null };
    // A workstream made through the API without a repo: this repo's file claims it.
    if (!ws.source && ws.repo_id === null) {
      setWorkstream(plan, 'repo', 'repo_id', ctx.repo.id, { from: null, to: ctx.repo.slug });
    }
    if (ws.source && ws.source.path !== file.path) plan.changes.push({ item, change: 'updated', field: 'file', from: ws.source.path, to: file.path });
  } else {
    hub = { title: wp.title, status: 'planned', topic: wp.topic, repo_goal: wp.repoGoal };
    plan.workstream = { id: null, slug: wp.id.toLowerCase(), base: {}, stored: undefined, pathBefore: null };
    plan.steps.push({
      kind: 'createWorkstream',
      item,
      values: { slug: wp.id.toLowerCase(), title: wp.title, topic_id: topicId, repo_id: ctx.repo.id, repo_goal_id: wp.repoGoal },
      change: { item, change: 'created' },
      conflict: { item, file: wp.title, hub: null },
    });
  }
  const wsBase = plan.workstream.base;
  if (merge(plan, item, 'title', wsBase, wp.title, hub.title)) setWorkstream(plan, 'title', 'title', wp.title, { from: hub.title, to: wp.title });
  if (merge(plan, item, 'topic', wsBase, wp.topic, hub.topic)) setWorkstream(plan, 'topic', 'topic_id', topicId, { from: hub.topic, to: wp.topic });
  if (merge(plan, item, 'repo_goal', wsBase, wp.repoGoal, hub.repo_goal)) {
    setWorkstream(plan, 'repo_goal', 'repo_goal_id', wp.repoGoal, { from: hub.repo_goal, to: wp.repoGoal });
  }

  planTasks(plan, ctx, ws, wp.tasks);

  const refused = ctx.state.transitions.refusal('workstream', hub.status, wp.status);
  if (merge(plan, item, 'status', wsBase, wp.status, hub.status, refused)) {
    setWorkstream(plan, 'status', 'status', wp.status, { from: hub.status, to: wp.status });
  }
  return plan;
}

/** A workstream that came from a file of this repo and that no file declares any more. */
export function planGone(ws: HubWorkstream, prune: boolean): FilePlan {
  const item = ws.slug.toUpperCase();
  const source = ws.source!;
  const plan: FilePlan = {
    path: source.path,
    workplanId: item,
    steps: [],
    workstream: { id: ws.id, slug: ws.slug, base: source.base, stored: source.base, pathBefore: source.path },
    tasks: new Map(),
    changes: [],
    conflicts: [],
    behind: [],
    errors: [],
    missing: [{ item, path: source.path, workstream_id: ws.id, task_id: null, status: ws.status, pruned: false }],
  };
  if (prune && OPEN_WORKSTREAM.has(ws.status)) {
    plan.steps.push({
      ...step('setWorkstream', item, undefined, 'status', 'status', 'cancelled', undefined, { from: ws.status, to: 'cancelled' }),
      change: { item, change: 'pruned', field: 'status', from: ws.status, to: 'cancelled' },
    });
  }
  return plan;
}

function planTasks(plan: FilePlan, ctx: PlanContext, ws: HubWorkstream | undefined, lines: NonNullable<Parsed['workplan']>['tasks']): void {
  const id = plan.workplanId!;
  const inHub: Map<string, HubTask> = (ws && ctx.state.tasks.get(ws.id)) || new Map();
  const titles: Step[] = [];
  const statuses: Step[] = [];
  for (const line of lines) {
    const item = `${id} ${line.key}`;
    const task = inHub.get(line.key);
    let hub: { title: string; status: string };
    if (task) {
      hub = { title: task.title, status: task.status };
      plan.tasks.set(line.key, { id: task.id, base: { ...task.base }, stored: task.base });
    } else {
      // The database takes no new open task in a finished workstream, and a task starts open.
      if (ws && FINISHED.has(ws.status)) {
        plan.conflicts.push({ item, file: line.status, hub: null, reason: `a ${ws.status} workstream takes no new open tasks` });
        continue;
      }
      hub = { title: line.title, status: 'todo' };
      plan.tasks.set(line.key, { id: null, base: {}, stored: undefined });
      plan.steps.push({ kind: 'createTask', item, key: line.key, values: { title: line.title }, change: { item, change: 'created' }, conflict: { item, file: line.status, hub: null } });
    }
    const base = plan.tasks.get(line.key)!.base;
    if (merge(plan, item, 'title', base, line.title, hub.title)) titles.push(step('setTask', item, line.key, 'title', 'title', line.title, base, { from: hub.title, to: line.title }));
    const refused = ctx.state.transitions.refusal('task', hub.status, line.status);
    if (merge(plan, item, 'status', base, line.status, hub.status, refused)) {
      statuses.push(step('setTask', item, line.key, 'status', 'status', line.status, base, { from: hub.status, to: line.status }));
    }
  }
  const inFile = new Set(lines.map((l) => l.key));
  for (const task of inHub.values()) {
    if (inFile.has(task.key)) continue;
    const item = `${id} ${task.key}`;
    plan.missing.push({ item, path: plan.path, workstream_id: task.workstream_id, task_id: task.id, status: task.status, pruned: false });
    if (ctx.prune && OPEN_TASK.has(task.status)) {
      plan.tasks.set(task.key, { id: task.id, base: task.base, stored: task.base });
      statuses.push({
        ...step('setTask', item, task.key, 'status', 'status', 'cancelled', undefined, { from: task.status, to: 'cancelled' }),
        change: { item, change: 'pruned', field: 'status', from: task.status, to: 'cancelled' },
      });
    }
  }
  plan.steps.push(...titles, ...statuses);
}

/**
 * Merges one field and reports what needs no write (agreement, file behind hub, conflicts);
 * true when the file's value is to be written. `refused` is the database's reason to refuse
 * that write, known beforehand.
 */
function merge(plan: FilePlan, item: string, field: Field, base: Base, file: Value, hub: Value, refused?: string): boolean {
  const before = base[field];
  switch (mergeField(before, file, hub)) {
    case 'same':
      return false;
    case 'agree':
      base[field] = file;
      return false;
    case 'behind':
      plan.behind.push({ item, field, file, hub });
      return false;
    case 'conflict':
      plan.conflicts.push({ item, field, ...(before === undefined ? {} : { base: before }), file, hub, reason: BOTH_CHANGED });
      return false;
    case 'apply':
      if (refused === undefined) return true;
      plan.conflicts.push({ item, field, ...(before === undefined ? {} : { base: before }), file, hub, reason: `the database refuses it: ${refused}` });
      return false;
  }
}

function step(kind: Step['kind'], item: string, key: string | undefined, field: Field, column: NonNullable<Step['column']>, value: Value, base: Base | undefined, shown: { from: Value; to: Value }): Step {
  const before = base?.[field];
  return {
    kind,
    item,
    ...(key === undefined ? {} : { key }),
    column,
    value,
    change: { item, change: 'updated', field, ...shown },
    conflict: { item, field, ...(before === undefined ? {} : { base: before }), file: shown.to, hub: shown.from },
    ...(base === undefined ? {} : { base: { field, value: shown.to } }),
  };
}

/** Writes `value` to a column of the file's workstream, reported as `field` going from `shown.from` to `shown.to`. */
function setWorkstream(plan: FilePlan, field: Field, column: NonNullable<Step['column']>, value: unknown, shown: { from: Value; to: Value }): void {
  // The repo a workstream is claimed for has no base: it is not a field of the file.
  const s = step('setWorkstream', plan.workplanId!, undefined, field, column, shown.to, field === 'repo' ? undefined : plan.workstream!.base, shown);
  plan.steps.push({ ...s, value });
}
