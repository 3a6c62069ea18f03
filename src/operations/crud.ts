// The operations every resource has in the same form: get one row by its key, list rows with
// filters, change a row. Each resource file declares its own with these, and only what differs.
import { z } from 'zod';
import { id, page, pageInput, slug } from './fields.ts';
import { operation } from './operation.ts';
import { getOne, listPage, patchAndGet, type Filter, type PageInput, type Resource } from './sql.ts';

type Key = 'id' | 'slug';
const keyField = (key: Key) => (key === 'id' ? id : slug);

/** `noun` names a row in messages: "decision 12 does not exist". */
export function getRow(r: Resource, row: z.ZodObject, key: Key, noun: string) {
  return operation({
    summary: `Get a ${noun}`,
    writes: false,
    input: z.strictObject({ [key]: keyField(key) }),
    output: row,
    run: (input, db) => getOne(db, r.select, `t.${key}`, input[key], `${noun} ${input[key]}`),
  });
}

/** A page of rows in id order; `filters` turns the input into the WHERE conditions. */
export function listRows<S extends z.ZodRawShape>(r: Resource, row: z.ZodObject, summary: string, shape: S, filters: (input: z.output<z.ZodObject<S>>) => Filter[]) {
  return operation({
    summary,
    writes: false,
    input: z.strictObject({ ...pageInput, ...shape }),
    output: page(row),
    run: (input, db) => listPage(db, r.select, filters(input as z.output<z.ZodObject<S>>), input as unknown as PageInput),
  });
}

/** Changes the fields given in `changes` of the row with this key. */
export function updateRow(r: Resource, row: z.ZodObject, key: Key, noun: string, changes: z.ZodType<Record<string, unknown>>, summary = `Change a ${noun}`) {
  return operation({
    summary,
    writes: true,
    input: z.strictObject({ [key]: keyField(key), changes }),
    output: row,
    run: (input, db) => patchAndGet(db, r, key, input[key], input.changes as Record<string, unknown>, `${noun} ${input[key]}`),
  });
}
