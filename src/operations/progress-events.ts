import { z } from 'zod';
import { invalid } from './errors.ts';
import { getRow, listRows } from './crud.ts';
import { id, idOrSlug, slug, text, timestamp } from './fields.ts';
import { operation } from './operation.ts';
import { byReference, createAndGet, idOfSlug, resource, when } from './sql.ts';

export const progressEventResource = resource('progress_events', (from) => `SELECT t.* FROM ${from} t`);
const res = progressEventResource;

export const progressEvent = z.object({
  id: z.number(),
  workstream_id: z.number().nullable(),
  task_id: z.number().nullable(),
  kind: z.string(),
  message: z.string(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const progressKind = z
  .string()
  .regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'lowercase word such as note, commit or review')
  .meta({ description: 'what sort of progress: note (the default), commit, review...' });

export const progressEventCreate = z.strictObject({
  workstream_id: id.optional(),
  /** The workstream by slug, as repos and goals take domain_slug; give one of the two. */
  workstream_slug: slug.optional(),
  task_id: id.optional(),
  kind: progressKind.optional(),
  message: text({ min: 1, max: 20_000 }),
});

export const progressEvents = {
  create: operation({
    summary: 'Record progress (append-only)',
    writes: true,
    input: progressEventCreate,
    output: progressEvent,
    run: ({ workstream_slug, ...rest }, db) => {
      if (workstream_slug === undefined) return createAndGet(db, res, rest);
      if (rest.workstream_id !== undefined) {
        throw invalid('give workstream_id or workstream_slug, not both', [{ field: 'workstream_slug', message: 'same as workstream_id' }]);
      }
      return db.tx(async (q) => createAndGet(q, res, { ...rest, workstream_id: await idOfSlug(q, 'workstreams', workstream_slug, 'workstream_slug') }));
    },
  }),
  list: listRows(res, progressEvent, 'List progress events, oldest first', { workstream: idOrSlug.optional(), task: id.optional() }, (input) => [
    byReference(input.workstream, 't.workstream_id', 'workstreams'),
    when(input.task, 't.task_id = $'),
  ]),
  get: getRow(res, progressEvent, 'id', 'progress event'),
};
