import { z } from 'zod';
import { getRow, listRows, updateRow } from './crud.ts';
import { id, idOrSlug, nonEmpty, text, timestamp, title } from './fields.ts';
import { operation } from './operation.ts';
import { byReference, createAndGet, resource, when } from './sql.ts';
import { taskStatus } from './statuses.ts';

export const taskResource = resource('tasks', (from) => `SELECT t.* FROM ${from} t`);
const res = taskResource;
const reason = text({ min: 1, max: 2000 });

export const task = z.object({
  id: z.number(),
  workstream_id: z.number(),
  title: z.string(),
  status: taskStatus,
  status_reason: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const taskCreate = z.strictObject({ workstream_id: id, title, status: taskStatus.optional(), status_reason: reason.optional() });
export const taskPatch = nonEmpty(z.strictObject({ title: title.optional(), status: taskStatus.optional(), status_reason: reason.nullable().optional() }));

export const tasks = {
  create: operation({
    summary: 'Create a task',
    writes: true,
    input: taskCreate,
    output: task,
    run: (input, db) => createAndGet(db, res, input),
  }),
  list: listRows(res, task, 'List tasks', { workstream: idOrSlug.optional(), status: taskStatus.optional() }, (input) => [
    byReference(input.workstream, 't.workstream_id', 'workstreams'),
    when(input.status, 't.status = $'),
  ]),
  get: getRow(res, task, 'id', 'task'),
  update: updateRow(res, task, 'id', 'task', taskPatch),
};
