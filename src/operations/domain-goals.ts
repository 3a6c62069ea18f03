import { z } from 'zod';
import { getRow, listRows, updateRow } from './crud.ts';
import { description, id, idOrSlug, nonEmpty, slug, timestamp, title } from './fields.ts';
import { operation } from './operation.ts';
import { byReference, createAndGet, getOne, idOfSlug, resource, when } from './sql.ts';
import { domainGoalStatus } from './statuses.ts';

const res = resource('domain_goals', (from) => `SELECT t.*, d.slug AS domain_slug FROM ${from} t JOIN statehub.domains d ON d.id = t.domain_id`);

export const domainGoal = z.object({
  id: z.number(),
  domain_id: z.number(),
  domain_slug: z.string(),
  title: z.string(),
  description: z.string().nullable(),
  status: domainGoalStatus,
  superseded_by: z.number().nullable(),
  activated_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const domainGoalCreate = z.strictObject({ domain_slug: slug, title, description: description.optional() });
// Activation supersedes the current goal (activate below), which also sets `superseded`.
export const domainGoalPatch = nonEmpty(
  z.strictObject({ title: title.optional(), description: description.nullable().optional(), status: domainGoalStatus.exclude(['superseded']).optional() }),
);

export const domainGoals = {
  create: operation({
    summary: 'Create a draft goal for a domain',
    writes: true,
    input: domainGoalCreate,
    output: domainGoal,
    run: ({ domain_slug, ...rest }, db) =>
      db.tx(async (q) => createAndGet(q, res, { ...rest, domain_id: await idOfSlug(q, 'domains', domain_slug, 'domain_slug') })),
  }),
  list: listRows(res, domainGoal, 'List domain goals', { domain: idOrSlug.optional(), status: domainGoalStatus.optional() }, (input) => [
    byReference(input.domain, 't.domain_id', 'domains'),
    when(input.status, 't.status = $'),
  ]),
  get: getRow(res, domainGoal, 'id', 'domain goal'),
  update: updateRow(res, domainGoal, 'id', 'domain goal', domainGoalPatch),
  activate: operation({
    summary: "Make this the domain's active goal, superseding the current one in the same transaction",
    writes: true,
    input: z.strictObject({ id }),
    output: domainGoal,
    run: ({ id }, db) =>
      db.tx(async (q) => {
        await q.query('SELECT 1 FROM statehub.activate_domain_goal($1)', [id]);
        return getOne(q, res.select, 't.id', id, `domain goal ${id}`);
      }),
  }),
};
