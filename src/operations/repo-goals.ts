import { z } from 'zod';
import { getRow, listRows, updateRow } from './crud.ts';
import { id, idOrSlug, nonEmpty, slug, timestamp, title } from './fields.ts';
import { operation } from './operation.ts';
import { byReference, createAndGet, idOfSlug, resource, when } from './sql.ts';
import { repoGoalStatus } from './statuses.ts';

const res = resource('repo_goals', (from) => `SELECT t.*, r.slug AS repo_slug FROM ${from} t JOIN statehub.repos r ON r.id = t.repo_id`);

export const repoGoal = z.object({
  id: z.number(),
  repo_id: z.number(),
  repo_slug: z.string(),
  domain_goal_id: z.number().nullable(),
  title: z.string(),
  status: repoGoalStatus,
  created_at: timestamp,
  updated_at: timestamp,
});

export const repoGoalCreate = z.strictObject({ repo_slug: slug, title, domain_goal_id: id.optional(), status: repoGoalStatus.optional() });
export const repoGoalPatch = nonEmpty(z.strictObject({ title: title.optional(), domain_goal_id: id.nullable().optional(), status: repoGoalStatus.optional() }));

export const repoGoals = {
  create: operation({
    summary: 'Create a repo goal',
    writes: true,
    input: repoGoalCreate,
    output: repoGoal,
    run: ({ repo_slug, ...rest }, db) =>
      db.tx(async (q) => createAndGet(q, res, { ...rest, repo_id: await idOfSlug(q, 'repos', repo_slug, 'repo_slug') })),
  }),
  list: listRows(res, repoGoal, 'List repo goals', { repo: idOrSlug.optional(), status: repoGoalStatus.optional() }, (input) => [
    byReference(input.repo, 't.repo_id', 'repos'),
    when(input.status, 't.status = $'),
  ]),
  get: getRow(res, repoGoal, 'id', 'repo goal'),
  update: updateRow(res, repoGoal, 'id', 'repo goal', repoGoalPatch),
};
