import { z } from 'zod';
import type { Api } from '../route.ts';
import { description, getOne, insertRow, listPage, nonEmpty, pageQuery, slug, slugParams, updateRow } from '../common.ts';
import { notFound } from '../errors.ts';

const select = 'SELECT t.* FROM statehub.domains t';
const name = z.string().trim().min(1).max(200);

export const domainCreate = z.strictObject({ slug, name, description: description.optional() });
export const domainPatch = nonEmpty(z.strictObject({ name: name.optional(), description: description.nullable().optional() }));

export function domainRoutes(api: Api): void {
  const tag = 'domains';
  api.add({ method: 'post', path: '/domains', summary: 'Create a domain', tag, body: domainCreate, status: 201 }, ({ body }, db) =>
    db.tx(async (q) => getOne(q, select, 't.id', await insertRow(q, 'domains', body), 'domain')),
  );
  api.add({ method: 'get', path: '/domains', summary: 'List domains', tag, query: pageQuery }, ({ query }, db) =>
    listPage(db, select, [], query),
  );
  api.add({ method: 'get', path: '/domains/:slug', summary: 'Get a domain', tag, params: slugParams }, ({ params }, db) =>
    getOne(db, select, 't.slug', params.slug, `domain ${params.slug}`),
  );
  api.add(
    { method: 'patch', path: '/domains/:slug', summary: 'Change a domain', tag, params: slugParams, body: domainPatch },
    ({ params, body }, db) =>
      db.tx(async (q) => {
        if (!(await updateRow(q, 'domains', 'slug', params.slug, body))) throw notFound(`domain ${params.slug}`);
        return getOne(q, select, 't.slug', params.slug, `domain ${params.slug}`);
      }),
  );
}
