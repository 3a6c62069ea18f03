import { z } from 'zod';
import { getRow, listRows } from './crud.ts';
import { idOrSlug, nonEmpty, slug, timestamp, title } from './fields.ts';
import { operation } from './operation.ts';
import { byReference, createAndGet, idOfSlug, patchAndGet, resource } from './sql.ts';

const res = resource('topics', (from) => `SELECT t.*, d.slug AS domain_slug FROM ${from} t LEFT JOIN statehub.domains d ON d.id = t.domain_id`);

export const topic = z.object({
  id: z.number(),
  slug: z.string(),
  title: z.string(),
  domain_id: z.number().nullable(),
  domain_slug: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const topicCreate = z.strictObject({ slug, title, domain_slug: slug.optional() });
export const topicPatch = nonEmpty(z.strictObject({ title: title.optional(), domain_slug: slug.nullable().optional() }));

export const topics = {
  create: operation({
    summary: 'Create a topic',
    writes: true,
    input: topicCreate,
    output: topic,
    run: ({ domain_slug, ...rest }, db) =>
      db.tx(async (q) => {
        const domain_id = domain_slug === undefined ? undefined : await idOfSlug(q, 'domains', domain_slug, 'domain_slug');
        return createAndGet(q, res, { ...rest, domain_id });
      }),
  }),
  list: listRows(res, topic, 'List topics', { domain: idOrSlug.optional() }, (input) => [byReference(input.domain, 't.domain_id', 'domains')]),
  get: getRow(res, topic, 'slug', 'topic'),
  update: operation({
    summary: 'Change a topic',
    writes: true,
    input: z.strictObject({ slug, changes: topicPatch }),
    output: topic,
    run: ({ slug, changes: { domain_slug, ...rest } }, db) =>
      db.tx(async (q) => {
        const domain_id =
          domain_slug === undefined ? undefined : domain_slug === null ? null : await idOfSlug(q, 'domains', domain_slug, 'domain_slug');
        return patchAndGet(q, res, 'slug', slug, { ...rest, domain_id }, `topic ${slug}`);
      }),
  }),
};
