import { z } from 'zod';
import type { Api } from '../route.ts';
import { byReference, createAndGet, getOne, id, idOrSlug, idParams, idText, listPage, pageQuery, resource, text, when } from '../common.ts';

const res = resource('progress_events', (from) => `SELECT t.* FROM ${from} t`);

export const progressEventCreate = z.strictObject({
  workstream_id: id.optional(),
  task_id: id.optional(),
  kind: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'lowercase word such as note, commit or review').optional(),
  message: text({ min: 1, max: 20_000 }),
});

export function progressEventRoutes(api: Api): void {
  const tag = 'progress events';
  api.add(
    { method: 'post', access: 'write', path: '/progress-events', summary: 'Record progress (append-only)', tag, body: progressEventCreate, status: 201 },
    ({ body }, db) => createAndGet(db, res, body),
  );
  api.add(
    {
      method: 'get', access: 'read', path: '/progress-events', summary: 'List progress events, oldest first', tag,
      query: pageQuery.extend({ workstream: idOrSlug.optional(), task: idText.optional() }),
      queryAliases: { workstream_id: 'workstream', task_id: 'task' },
    },
    ({ query }, db) =>
      listPage(db, res.select, [byReference(query.workstream, 't.workstream_id', 'workstreams'), when(query.task, 't.task_id = $')], query),
  );
  api.add({ method: 'get', access: 'read', path: '/progress-events/:id', summary: 'Get a progress event', tag, params: idParams }, ({ params }, db) =>
    getOne(db, res.select, 't.id', params.id, `progress event ${params.id}`),
  );
}
