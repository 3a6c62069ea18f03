import { z } from 'zod';
import type { Api } from '../route.ts';
import { byReference, createAndGet, getOne, id, idOrSlug, idParams, listPage, nonEmpty, pageQuery, patchAndGet, resource, text, title, when } from '../common.ts';
import { HttpError, notFound } from '../errors.ts';

const res = resource('decisions', (from) => `SELECT t.* FROM ${from} t`);
const status = z.enum(['open', 'resolved', 'withdrawn']);

export const decisionCreate = z.strictObject({ title, topic_id: id.optional(), workstream_id: id.optional() });
export const decisionPatch = nonEmpty(
  z.strictObject({ title: title.optional(), topic_id: id.nullable().optional(), workstream_id: id.nullable().optional(), status: z.literal('withdrawn').optional() }),
);
export const decisionResolve = z.strictObject({
  decided_by: text({ min: 1, max: 200 }),
  rationale: text({ min: 1, max: 20_000 }),
});

export function decisionRoutes(api: Api): void {
  const tag = 'decisions';
  api.add({ method: 'post', access: 'write', path: '/decisions', summary: 'Open a decision', tag, body: decisionCreate, status: 201 }, ({ body }, db) =>
    createAndGet(db, res, body),
  );
  api.add(
    {
      method: 'get', access: 'read', path: '/decisions', summary: 'List decisions', tag,
      query: pageQuery.extend({ status: status.optional(), topic: idOrSlug.optional(), workstream: idOrSlug.optional() }),
      queryAliases: { topic_id: 'topic', workstream_id: 'workstream' },
    },
    ({ query }, db) =>
      listPage(
        db,
        res.select,
        [
          when(query.status, 't.status = $'),
          byReference(query.topic, 't.topic_id', 'topics'),
          byReference(query.workstream, 't.workstream_id', 'workstreams'),
        ],
        query,
      ),
  );
  api.add({ method: 'get', access: 'read', path: '/decisions/:id', summary: 'Get a decision', tag, params: idParams }, ({ params }, db) =>
    getOne(db, res.select, 't.id', params.id, `decision ${params.id}`),
  );
  api.add(
    { method: 'patch', access: 'write', path: '/decisions/:id', summary: 'Change a decision, or withdraw an open one', tag, params: idParams, body: decisionPatch },
    ({ params, body }, db) =>
      patchAndGet(db, res, 'id', params.id, body, `decision ${params.id}`),
  );
  api.add(
    { method: 'post', access: 'write', path: '/decisions/:id/resolve', summary: 'Resolve an open decision', tag, params: idParams, body: decisionResolve },
    ({ params, body }, db) =>
      db.tx(async (q) => {
        const { rows } = await q.query<{ status: string }>('SELECT status FROM statehub.decisions WHERE id = $1 FOR UPDATE', [params.id]);
        if (!rows[0]) throw notFound(`decision ${params.id}`);
        // Re-resolving would silently rewrite who decided and why; only open decisions resolve.
        if (rows[0].status !== 'open') throw new HttpError(409, 'Conflict', `decision ${params.id} is ${rows[0].status}; only an open decision can be resolved`);
        return patchAndGet(q, res, 'id', params.id, { ...body, status: 'resolved' }, `decision ${params.id}`);
      }),
  );
}
