import { z } from 'zod';
import { conflict, notFound } from './errors.ts';
import { getRow, listRows, updateRow } from './crud.ts';
import { id, idOrSlug, nonEmpty, text, timestamp, title } from './fields.ts';
import { operation } from './operation.ts';
import { byReference, createAndGet, patchAndGet, resource, when } from './sql.ts';
import { decisionStatus } from './statuses.ts';

export const decisionResource = resource('decisions', (from) => `SELECT t.* FROM ${from} t`);
const res = decisionResource;

export const decision = z.object({
  id: z.number(),
  title: z.string(),
  topic_id: z.number().nullable(),
  workstream_id: z.number().nullable(),
  status: decisionStatus,
  decided_by: z.string().nullable(),
  rationale: z.string().nullable(),
  resolved_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const decisionCreate = z.strictObject({ title, topic_id: id.optional(), workstream_id: id.optional() });
export const decisionPatch = nonEmpty(
  z.strictObject({ title: title.optional(), topic_id: id.nullable().optional(), workstream_id: id.nullable().optional(), status: decisionStatus.extract(['withdrawn']).optional() }),
);
const resolution = {
  decided_by: text({ min: 1, max: 200 }).meta({ description: 'who decided: a person, team or agent' }),
  rationale: text({ min: 1, max: 20_000 }).meta({ description: 'why, in a few sentences' }),
};

export const decisions = {
  create: operation({
    summary: 'Open a decision',
    writes: true,
    input: decisionCreate,
    output: decision,
    run: (input, db) => createAndGet(db, res, input),
  }),
  list: listRows(
    res,
    decision,
    'List decisions',
    { status: decisionStatus.optional(), topic: idOrSlug.optional(), workstream: idOrSlug.optional() },
    (input) => [
      when(input.status, 't.status = $'),
      byReference(input.topic, 't.topic_id', 'topics'),
      byReference(input.workstream, 't.workstream_id', 'workstreams'),
    ],
  ),
  get: getRow(res, decision, 'id', 'decision'),
  update: updateRow(res, decision, 'id', 'decision', decisionPatch, 'Change a decision, or withdraw an open one'),
  resolve: operation({
    summary: 'Resolve an open decision',
    writes: true,
    input: z.strictObject({ id, ...resolution }),
    output: decision,
    run: ({ id, ...resolved }, db) =>
      db.tx(async (q) => {
        const { rows } = await q.query<{ status: string }>('SELECT status FROM statehub.decisions WHERE id = $1 FOR UPDATE', [id]);
        if (!rows[0]) throw notFound(`decision ${id}`);
        // Re-resolving would silently rewrite who decided and why; only open decisions resolve.
        if (rows[0].status !== 'open') throw conflict(`decision ${id} is ${rows[0].status}; only an open decision can be resolved`);
        return patchAndGet(q, res, 'id', id, { ...resolved, status: 'resolved' }, `decision ${id}`);
      }),
  }),
};
