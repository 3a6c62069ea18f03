import { z } from 'zod';
import type { Api } from '../route.ts';
import { byReference, createAndGet, description, getOne, idOfSlug, idOrSlug, idParams, listPage, nonEmpty, pageQuery, patchAndGet, resource, slug, title, when } from '../common.ts';

const res = resource('domain_goals', (from) => `SELECT t.*, d.slug AS domain_slug FROM ${from} t JOIN statehub.domains d ON d.id = t.domain_id`);
const status = z.enum(['draft', 'active', 'superseded', 'achieved', 'abandoned']);

export const domainGoalCreate = z.strictObject({ domain_slug: slug, title, description: description.optional() });
// Activation supersedes the current goal: POST /domain-goals/:id/activate. `superseded` is set by it too.
export const domainGoalPatch = nonEmpty(
  z.strictObject({ title: title.optional(), description: description.nullable().optional(), status: status.exclude(['superseded']).optional() }),
);

export function domainGoalRoutes(api: Api): void {
  const tag = 'domain goals';
  api.add(
    { method: 'post', access: 'write', path: '/domain-goals', summary: 'Create a draft goal for a domain', tag, body: domainGoalCreate, status: 201 },
    ({ body }, db) =>
      db.tx(async (q) => {
        const { domain_slug, ...rest } = body;
        const domain_id = await idOfSlug(q, 'domains', domain_slug, 'domain_slug');
        return createAndGet(q, res, { ...rest, domain_id });
      }),
  );
  api.add(
    {
      method: 'get', access: 'read', path: '/domain-goals', summary: 'List domain goals', tag,
      query: pageQuery.extend({ domain: idOrSlug.optional(), status: status.optional() }),
    },
    ({ query }, db) => listPage(db, res.select, [byReference(query.domain, 't.domain_id', 'domains'), when(query.status, 't.status = $')], query),
  );
  api.add({ method: 'get', access: 'read', path: '/domain-goals/:id', summary: 'Get a domain goal', tag, params: idParams }, ({ params }, db) =>
    getOne(db, res.select, 't.id', params.id, `domain goal ${params.id}`),
  );
  api.add(
    { method: 'patch', access: 'write', path: '/domain-goals/:id', summary: 'Change a domain goal', tag, params: idParams, body: domainGoalPatch },
    ({ params, body }, db) =>
      patchAndGet(db, res, 'id', params.id, body, `domain goal ${params.id}`),
  );
  api.add(
    {
      method: 'post', access: 'write', path: '/domain-goals/:id/activate', tag, params: idParams,
      summary: "Make this the domain's active goal, superseding the current one in the same transaction",
    },
    ({ params }, db) =>
      db.tx(async (q) => {
        await q.query('SELECT 1 FROM statehub.activate_domain_goal($1)', [params.id]);
        return getOne(q, res.select, 't.id', params.id, `domain goal ${params.id}`);
      }),
  );
}
