import { z } from 'zod';
import type { Api } from '../route.ts';
import { byReference, createAndGet, getOne, idOfSlug, idOrSlug, listPage, nonEmpty, pageQuery, patchAndGet, resource, slug, slugParams, title } from '../common.ts';

const res = resource('topics', (from) => `SELECT t.*, d.slug AS domain_slug FROM ${from} t LEFT JOIN statehub.domains d ON d.id = t.domain_id`);

export const topicCreate = z.strictObject({ slug, title, domain_slug: slug.optional() });
export const topicPatch = nonEmpty(z.strictObject({ title: title.optional(), domain_slug: slug.nullable().optional() }));

export function topicRoutes(api: Api): void {
  const tag = 'topics';
  api.add({ method: 'post', access: 'write', path: '/topics', summary: 'Create a topic', tag, body: topicCreate, status: 201 }, ({ body }, db) =>
    db.tx(async (q) => {
      const { domain_slug, ...rest } = body;
      const domain_id = domain_slug === undefined ? undefined : await idOfSlug(q, 'domains', domain_slug, 'domain_slug');
      return createAndGet(q, res, { ...rest, domain_id });
    }),
  );
  api.add({ method: 'get', access: 'read', path: '/topics', summary: 'List topics', tag, query: pageQuery.extend({ domain: idOrSlug.optional() }) }, ({ query }, db) =>
    listPage(db, res.select, [byReference(query.domain, 't.domain_id', 'domains')], query),
  );
  api.add({ method: 'get', access: 'read', path: '/topics/:slug', summary: 'Get a topic', tag, params: slugParams }, ({ params }, db) =>
    getOne(db, res.select, 't.slug', params.slug, `topic ${params.slug}`),
  );
  api.add({ method: 'patch', access: 'write', path: '/topics/:slug', summary: 'Change a topic', tag, params: slugParams, body: topicPatch }, ({ params, body }, db) =>
    db.tx(async (q) => {
      const { domain_slug, ...rest } = body;
      const domain_id =
        domain_slug === undefined ? undefined : domain_slug === null ? null : await idOfSlug(q, 'domains', domain_slug, 'domain_slug');
      return patchAndGet(q, res, 'slug', params.slug, { ...rest, domain_id }, `topic ${params.slug}`);
    }),
  );
}
