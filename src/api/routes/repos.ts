import { z } from 'zod';
import type { Api } from '../route.ts';
import { byReference, createAndGet, getOne, idOfSlug, idOrSlug, listPage, nonEmpty, pageQuery, patchAndGet, resource, slug, slugParams, text } from '../common.ts';

const res = resource('repos', (from) => `SELECT t.*, d.slug AS domain_slug FROM ${from} t JOIN statehub.domains d ON d.id = t.domain_id`);
const location = text({ min: 1, max: 2000 });

export const repoCreate = z.strictObject({ slug, domain_slug: slug, remote_url: location.optional(), local_path: location.optional() });
export const repoPatch = nonEmpty(
  z.strictObject({ domain_slug: slug.optional(), remote_url: location.nullable().optional(), local_path: location.nullable().optional() }),
);

export function repoRoutes(api: Api): void {
  const tag = 'repos';
  api.add({ method: 'post', access: 'write', path: '/repos', summary: 'Register a repo', tag, body: repoCreate, status: 201 }, ({ body }, db) =>
    db.tx(async (q) => {
      const { domain_slug, ...rest } = body;
      const domain_id = await idOfSlug(q, 'domains', domain_slug, 'domain_slug');
      return createAndGet(q, res, { ...rest, domain_id });
    }),
  );
  api.add({ method: 'get', access: 'read', path: '/repos', summary: 'List repos', tag, query: pageQuery.extend({ domain: idOrSlug.optional() }) }, ({ query }, db) =>
    listPage(db, res.select, [byReference(query.domain, 't.domain_id', 'domains')], query),
  );
  api.add({ method: 'get', access: 'read', path: '/repos/:slug', summary: 'Get a repo', tag, params: slugParams }, ({ params }, db) =>
    getOne(db, res.select, 't.slug', params.slug, `repo ${params.slug}`),
  );
  api.add({ method: 'patch', access: 'write', path: '/repos/:slug', summary: 'Change a repo', tag, params: slugParams, body: repoPatch }, ({ params, body }, db) =>
    db.tx(async (q) => {
      const { domain_slug, ...rest } = body;
      const domain_id = domain_slug === undefined ? undefined : await idOfSlug(q, 'domains', domain_slug, 'domain_slug');
      return patchAndGet(q, res, 'slug', params.slug, { ...rest, domain_id }, `repo ${params.slug}`);
    }),
  );
}
