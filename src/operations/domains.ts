import { z } from 'zod';
import { getRow, listRows, updateRow } from './crud.ts';
import { description, nonEmpty, slug, text, timestamp } from './fields.ts';
import { operation } from './operation.ts';
import { createAndGet, resource } from './sql.ts';

const res = resource('domains', (from) => `SELECT t.* FROM ${from} t`);
const name = text({ min: 1, max: 200 });

export const domain = z.object({
  id: z.number(),
  slug: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const domainCreate = z.strictObject({ slug, name, description: description.optional() });
export const domainPatch = nonEmpty(z.strictObject({ name: name.optional(), description: description.nullable().optional() }));

export const domains = {
  create: operation({
    summary: 'Create a domain',
    writes: true,
    input: domainCreate,
    output: domain,
    run: (input, db) => createAndGet(db, res, input),
  }),
  list: listRows(res, domain, 'List domains', {}, () => []),
  get: getRow(res, domain, 'slug', 'domain'),
  update: updateRow(res, domain, 'slug', 'domain', domainPatch),
};
