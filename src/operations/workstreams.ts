import { z } from 'zod';
import { decision, decisionResource } from './decisions.ts';
import { getRow, listRows, updateRow } from './crud.ts';
import { id, idOrSlug, MAX_PAGE, nonEmpty, slug, timestamp, title } from './fields.ts';
import { operation } from './operation.ts';
import { progressEvent, progressEventResource } from './progress-events.ts';
import { byReference, createAndGet, getOne, resource, when } from './sql.ts';
import { workstreamStatus } from './statuses.ts';
import { task, taskResource } from './tasks.ts';

const res = resource('workstreams', (from) => `SELECT t.*, tp.slug AS topic_slug, r.slug AS repo_slug
                  FROM ${from} t
                  JOIN statehub.topics tp ON tp.id = t.topic_id
                  LEFT JOIN statehub.repos r ON r.id = t.repo_id`);

export const workstream = z.object({
  id: z.number(),
  slug: z.string(),
  title: z.string(),
  topic_id: z.number(),
  topic_slug: z.string(),
  repo_id: z.number().nullable(),
  repo_slug: z.string().nullable(),
  repo_goal_id: z.number().nullable(),
  status: workstreamStatus,
  completed_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const workstreamCreate = z.strictObject({
  slug,
  title,
  topic_id: id,
  repo_id: id.optional(),
  repo_goal_id: id.optional(),
  status: workstreamStatus.optional(),
});
export const workstreamPatch = nonEmpty(
  z.strictObject({
    title: title.optional(),
    topic_id: id.optional(),
    repo_id: id.nullable().optional(),
    repo_goal_id: id.nullable().optional(),
    status: workstreamStatus.optional(),
  }),
);

/** How much of a workstream its detail shows. */
export const DETAIL_LIMITS = { tasks: MAX_PAGE, openDecisions: 100, progressEvents: 20 } as const;

export const workstreamDetail = z.object({
  workstream,
  tasks: z.array(task).meta({ description: `its tasks in the order they were created, at most ${DETAIL_LIMITS.tasks}` }),
  tasks_truncated: z.boolean().meta({ description: 'true when it has more tasks than shown (list them with a tasks filter)' }),
  open_decisions: z.array(decision).meta({ description: `its open decisions, oldest first, at most ${DETAIL_LIMITS.openDecisions}` }),
  open_decisions_truncated: z.boolean().meta({ description: 'true when it has more open decisions than shown (list them with a decisions filter)' }),
  latest_progress_events: z.array(progressEvent).meta({ description: `its latest progress events, newest first, at most ${DETAIL_LIMITS.progressEvents}` }),
});

export const workstreams = {
  create: operation({
    summary: 'Create a workstream',
    writes: true,
    input: workstreamCreate,
    output: workstream,
    run: (input, db) => createAndGet(db, res, input),
  }),
  list: listRows(
    res,
    workstream,
    'List workstreams; repo and topic take an id or a slug',
    { status: workstreamStatus.optional(), repo: idOrSlug.optional(), topic: idOrSlug.optional() },
    (input) => [when(input.status, 't.status = $'), byReference(input.repo, 't.repo_id', 'repos'), byReference(input.topic, 't.topic_id', 'topics')],
  ),
  get: getRow(res, workstream, 'id', 'workstream'),
  update: updateRow(res, workstream, 'id', 'workstream', workstreamPatch, 'Change a workstream; status changes follow docs/status-transitions.md'),
  detail: operation({
    summary: 'A workstream with its tasks, open decisions and latest progress events',
    writes: false,
    input: z.strictObject({ workstream: idOrSlug }),
    output: workstreamDetail,
    run: ({ workstream: key }, db) =>
      db.tx(async (q) => {
        // One snapshot: the parts agree with each other.
        await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const ws = await getOne<{ id: number }>(q, res.select, typeof key === 'number' ? 't.id' : 't.slug', key, `workstream ${key}`);
        const tasks = await q.query(`${taskResource.select} WHERE t.workstream_id = $1 ORDER BY t.id LIMIT $2`, [ws.id, DETAIL_LIMITS.tasks + 1]);
        const open = await q.query(`${decisionResource.select} WHERE t.workstream_id = $1 AND t.status = 'open' ORDER BY t.created_at, t.id LIMIT $2`, [
          ws.id,
          DETAIL_LIMITS.openDecisions + 1,
        ]);
        const progress = await q.query(`${progressEventResource.select} WHERE t.workstream_id = $1 ORDER BY t.id DESC LIMIT $2`, [
          ws.id,
          DETAIL_LIMITS.progressEvents,
        ]);
        return {
          workstream: ws,
          tasks: tasks.rows.slice(0, DETAIL_LIMITS.tasks),
          tasks_truncated: tasks.rows.length > DETAIL_LIMITS.tasks,
          open_decisions: open.rows.slice(0, DETAIL_LIMITS.openDecisions),
          open_decisions_truncated: open.rows.length > DETAIL_LIMITS.openDecisions,
          latest_progress_events: progress.rows,
        };
      }),
  }),
};
