import { z } from 'zod';
import { getRow, listRows } from './crud.ts';
import { idOrSlug, nonEmpty, slug, text, timestamp } from './fields.ts';
import { operation } from './operation.ts';
import { byReference, createAndGet, idOfSlug, patchAndGet, resource } from './sql.ts';

const res = resource('repos', (from) => `SELECT t.*, d.slug AS domain_slug FROM ${from} t JOIN statehub.domains d ON d.id = t.domain_id`);
const location = text({ min: 1, max: 2000 });

export const repo = z.object({
  id: z.number(),
  slug: z.string(),
  domain_id: z.number(),
  domain_slug: z.string(),
  remote_url: z.string().nullable(),
  local_path: z.string().nullable(),
  registered_at: timestamp,
  created_at: timestamp,
  updated_at: timestamp,
});

export const repoCreate = z.strictObject({ slug, domain_slug: slug, remote_url: location.optional(), local_path: location.optional() });
export const repoPatch = nonEmpty(
  z.strictObject({ domain_slug: slug.optional(), remote_url: location.nullable().optional(), local_path: location.nullable().optional() }),
);

export const repos = {
  create: operation({
    summary: 'Register a repo',
    writes: true,
    input: repoCreate,
    output: repo,
    run: ({ domain_slug, ...rest }, db) =>
      db.tx(async (q) => createAndGet(q, res, { ...rest, domain_id: await idOfSlug(q, 'domains', domain_slug, 'domain_slug') })),
  }),
  list: listRows(res, repo, 'List repos', { domain: idOrSlug.optional() }, (input) => [byReference(input.domain, 't.domain_id', 'domains')]),
  get: getRow(res, repo, 'slug', 'repo'),
  update: operation({
    summary: 'Change a repo',
    writes: true,
    input: z.strictObject({ slug, changes: repoPatch }),
    output: repo,
    run: ({ slug, changes: { domain_slug, ...rest } }, db) =>
      db.tx(async (q) => {
        const domain_id = domain_slug === undefined ? undefined : await idOfSlug(q, 'domains', domain_slug, 'domain_slug');
        return patchAndGet(q, res, 'slug', slug, { ...rest, domain_id }, `repo ${slug}`);
      }),
  }),
};
