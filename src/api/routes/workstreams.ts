import { z } from 'zod';
import type { Api } from '../route.ts';
import { byReference, createAndGet, getOne, id, idOrSlug, idParams, listPage, nonEmpty, pageQuery, patchAndGet, resource, slug, title, when } from '../common.ts';

const res = resource('workstreams', (from) => `SELECT t.*, tp.slug AS topic_slug, r.slug AS repo_slug
                  FROM ${from} t
                  JOIN statehub.topics tp ON tp.id = t.topic_id
                  LEFT JOIN statehub.repos r ON r.id = t.repo_id`);
export const workstreamStatus = z.enum(['planned', 'active', 'blocked', 'completed', 'cancelled']);

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

export function workstreamRoutes(api: Api): void {
  const tag = 'workstreams';
  api.add({ method: 'post', access: 'write', path: '/workstreams', summary: 'Create a workstream', tag, body: workstreamCreate, status: 201 }, ({ body }, db) =>
    createAndGet(db, res, body),
  );
  api.add(
    {
      method: 'get', access: 'read', path: '/workstreams', tag,
      summary: 'List workstreams; repo and topic take an id or a slug',
      query: pageQuery.extend({ status: workstreamStatus.optional(), repo: idOrSlug.optional(), topic: idOrSlug.optional() }),
    },
    ({ query }, db) =>
      listPage(
        db,
        res.select,
        [
          when(query.status, 't.status = $'),
          byReference(query.repo, 't.repo_id', 'repos'),
          byReference(query.topic, 't.topic_id', 'topics'),
        ],
        query,
      ),
  );
  api.add({ method: 'get', access: 'read', path: '/workstreams/:id', summary: 'Get a workstream', tag, params: idParams }, ({ params }, db) =>
    getOne(db, res.select, 't.id', params.id, `workstream ${params.id}`),
  );
  api.add(
    {
      method: 'patch', access: 'write', path: '/workstreams/:id', tag, params: idParams, body: workstreamPatch,
      summary: 'Change a workstream; status changes follow docs/status-transitions.md',
    },
    ({ params, body }, db) =>
      patchAndGet(db, res, 'id', params.id, body, `workstream ${params.id}`),
  );
}
