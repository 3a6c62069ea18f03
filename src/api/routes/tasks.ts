import { z } from 'zod';
import type { Api } from '../route.ts';
import { byReference, createAndGet, getOne, id, idOrSlug, idParams, listPage, nonEmpty, pageQuery, patchAndGet, resource, text, title, when } from '../common.ts';

const res = resource('tasks', (from) => `SELECT t.* FROM ${from} t`);
const status = z.enum(['todo', 'in_progress', 'blocked', 'done', 'cancelled']);
const reason = text({ min: 1, max: 2000 });

export const taskCreate = z.strictObject({ workstream_id: id, title, status: status.optional(), status_reason: reason.optional() });
export const taskPatch = nonEmpty(z.strictObject({ title: title.optional(), status: status.optional(), status_reason: reason.nullable().optional() }));

export function taskRoutes(api: Api): void {
  const tag = 'tasks';
  api.add({ method: 'post', access: 'write', path: '/tasks', summary: 'Create a task', tag, body: taskCreate, status: 201 }, ({ body }, db) =>
    createAndGet(db, res, body),
  );
  api.add(
    {
      method: 'get', access: 'read', path: '/tasks', summary: 'List tasks', tag,
      query: pageQuery.extend({ workstream: idOrSlug.optional(), status: status.optional() }),
      queryAliases: { workstream_id: 'workstream' },
    },
    ({ query }, db) =>
      listPage(db, res.select, [byReference(query.workstream, 't.workstream_id', 'workstreams'), when(query.status, 't.status = $')], query),
  );
  api.add({ method: 'get', access: 'read', path: '/tasks/:id', summary: 'Get a task', tag, params: idParams }, ({ params }, db) =>
    getOne(db, res.select, 't.id', params.id, `task ${params.id}`),
  );
  api.add({ method: 'patch', access: 'write', path: '/tasks/:id', summary: 'Change a task', tag, params: idParams, body: taskPatch }, ({ params, body }, db) =>
    patchAndGet(db, res, 'id', params.id, body, `task ${params.id}`),
  );
}
