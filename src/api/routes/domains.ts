import { z } from 'zod';
import type { Api } from '../route.ts';
import { createAndGet, description, getOne, listPage, nonEmpty, pageQuery, patchAndGet, resource, slug, slugParams, text } from '../common.ts';

const res = resource('domains', (from) => `SELECT t.* FROM ${from} t`);
const name = text({ min: 1, max: 200 });

export const domainCreate = z.strictObject({ slug, name, description: description.optional() });
export const domainPatch = nonEmpty(z.strictObject({ name: name.optional(), description: description.nullable().optional() }));

export function domainRoutes(api: Api): void {
  const tag = 'domains';
  api.add({ method: 'post', access: 'write', path: '/domains', summary: 'Create a domain', tag, body: domainCreate, status: 201 }, ({ body }, db) =>
    createAndGet(db, res, body),
  );
  api.add({ method: 'get', access: 'read', path: '/domains', summary: 'List domains', tag, query: pageQuery }, ({ query }, db) =>
    listPage(db, res.select, [], query),
  );
  api.add({ method: 'get', access: 'read', path: '/domains/:slug', summary: 'Get a domain', tag, params: slugParams }, ({ params }, db) =>
    getOne(db, res.select, 't.slug', params.slug, `domain ${params.slug}`),
  );
  api.add(
    { method: 'patch', access: 'write', path: '/domains/:slug', summary: 'Change a domain', tag, params: slugParams, body: domainPatch },
    ({ params, body }, db) =>
      patchAndGet(db, res, 'slug', params.slug, body, `domain ${params.slug}`),
  );
}
