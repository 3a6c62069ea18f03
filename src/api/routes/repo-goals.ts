import { z } from 'zod';
import type { Api } from '../route.ts';
import { byReference, createAndGet, getOne, id, idOfSlug, idOrSlug, idParams, listPage, nonEmpty, pageQuery, patchAndGet, resource, slug, title, when } from '../common.ts';

const res = resource('repo_goals', (from) => `SELECT t.*, r.slug AS repo_slug FROM ${from} t JOIN statehub.repos r ON r.id = t.repo_id`);
const status = z.enum(['draft', 'active', 'achieved', 'abandoned']);

export const repoGoalCreate = z.strictObject({ repo_slug: slug, title, domain_goal_id: id.optional(), status: status.optional() });
export const repoGoalPatch = nonEmpty(z.strictObject({ title: title.optional(), domain_goal_id: id.nullable().optional(), status: status.optional() }));

export function repoGoalRoutes(api: Api): void {
  const tag = 'repo goals';
  api.add({ method: 'post', access: 'write', path: '/repo-goals', summary: 'Create a repo goal', tag, body: repoGoalCreate, status: 201 }, ({ body }, db) =>
    db.tx(async (q) => {
      const { repo_slug, ...rest } = body;
      const repo_id = await idOfSlug(q, 'repos', repo_slug, 'repo_slug');
      return createAndGet(q, res, { ...rest, repo_id });
    }),
  );
  api.add(
    { method: 'get', access: 'read', path: '/repo-goals', summary: 'List repo goals', tag, query: pageQuery.extend({ repo: idOrSlug.optional(), status: status.optional() }) },
    ({ query }, db) => listPage(db, res.select, [byReference(query.repo, 't.repo_id', 'repos'), when(query.status, 't.status = $')], query),
  );
  api.add({ method: 'get', access: 'read', path: '/repo-goals/:id', summary: 'Get a repo goal', tag, params: idParams }, ({ params }, db) =>
    getOne(db, res.select, 't.id', params.id, `repo goal ${params.id}`),
  );
  api.add(
    { method: 'patch', access: 'write', path: '/repo-goals/:id', summary: 'Change a repo goal', tag, params: idParams, body: repoGoalPatch },
    ({ params, body }, db) =>
      patchAndGet(db, res, 'id', params.id, body, `repo goal ${params.id}`),
  );
}
