// Building blocks shared by the resource routes: parameter schemas, keyset pagination and
// parameterized INSERT/UPDATE. Column names only ever come from zod-validated object keys.
import { z } from 'zod';
import type { Queryable } from '../db.ts';
import { HttpError, notFound } from './errors.ts';

export const MAX_PAGE = 500;

/** An id in a JSON body: a number, never coerced (true or "1e2" are refused, not read as 1 or 100). */
export const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/**
 * A whole number in a path or query string. One rule everywhere: decimal digits only, no sign,
 * spaces, exponent, hex or leading zeros ("0x10", "1e2", " 5" and "01" are all refused).
 */
export const intText = (min: number, max: number) =>
  z
    .string()
    .regex(/^(0|[1-9][0-9]{0,14})$/, 'expected a whole number in plain decimal digits')
    .transform(Number)
    .pipe(z.number().min(min).max(max));
/** An id in a path or query string. */
export const idText = intText(1, Number.MAX_SAFE_INTEGER);

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Free text as PostgreSQL can store it: no NUL character (text cannot hold one) and no lone
 * UTF-16 surrogate (it has no UTF-8 form and would be stored as U+FFFD). Checked here so the
 * answer names the field.
 */
export const text = (options: { min?: number; max: number; trim?: boolean }) => {
  let s = z
    .string()
    .regex(/^[^\u0000]*$/, 'must not contain the NUL character (\\u0000)')
    .refine((v) => !loneSurrogate.test(v), 'must be valid Unicode (a \\u escape pairs high and low surrogates)');
  if (options.trim !== false) s = s.trim();
  return options.min === undefined ? s.max(options.max) : s.min(options.min).max(options.max);
};

export const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, 'lowercase letters, digits, ".", "_" or "-", at most 100, starting with a letter or digit');
export const title = text({ min: 1, max: 500 });
export const description = text({ max: 10_000, trim: false });

export const idParams = z.object({ id: idText });
export const slugParams = z.object({ slug });

/**
 * A resource named by id ("12") or by slug ("state-hub"). All digits means an id, so "012" is
 * a bad id rather than a slug, and a slug made of digits only is reached by its id instead.
 */
export const idOrSlug = z
  .string()
  .transform((value, ctx) => {
    const parsed = (/^[0-9]+$/.test(value) ? idText : slug).safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
    return z.NEVER;
  })
  .meta({ description: 'an id (digits) or a slug' });

export const pageQuery = z.object({
  limit: intText(1, MAX_PAGE).default(100),
  /** Opaque: the next_cursor of the previous page. */
  cursor: z.string().max(100).optional(),
});

export interface Page<T> {
  items: T[];
  /** Pass as ?cursor= for the next page; null on the last one. */
  next_cursor: string | null;
}

const encodeCursor = (lastId: number) => Buffer.from(`id:${lastId}`).toString('base64url');

/** The answer to a cursor that no page of this API handed out (or that was altered). */
export const badCursor = () =>
  new HttpError(400, 'Bad Request', 'cursor is not one this API issued', [{ field: 'cursor', message: 'invalid cursor' }]);

function decodeCursor(cursor: string): number {
  const m = /^id:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw badCursor();
  return Number(m[1]);
}

/** A WHERE condition; `$` in sql stands for the value's placeholder. */
export type Filter = { sql: string; value: unknown } | undefined;

export const when = (value: unknown, sql: string): Filter => (value === undefined ? undefined : { sql, value });

/**
 * A filter on a referenced resource, named after it (?repo=, ?workstream=): an id matches
 * `idColumn` directly, a slug through the referenced table (which must have a slug column).
 */
export function byReference(value: number | string | undefined, idColumn: string, table: string): Filter {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return { sql: `${idColumn} = $`, value };
  return { sql: `${idColumn} = (SELECT id FROM statehub.${table} WHERE slug = $)`, value };
}

/**
 * One page of `select` (which must expose the row id as `id` from alias `t`), ordered by id:
 * stable under concurrent inserts because the cursor is the last id seen.
 */
export async function listPage<T extends { id: number }>(
  q: Queryable,
  select: string,
  filters: Filter[],
  page: z.infer<typeof pageQuery>,
): Promise<Page<T>> {
  const params: unknown[] = [];
  const where: string[] = [];
  for (const f of filters) {
    if (!f) continue;
    params.push(f.value);
    where.push(f.sql.replaceAll('$', `$${params.length}`));
  }
  if (page.cursor !== undefined) {
    params.push(decodeCursor(page.cursor));
    where.push(`t.id > $${params.length}`);
  }
  params.push(page.limit + 1);
  const sql = `${select} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY t.id LIMIT $${params.length}`;
  const { rows } = await q.query<T>(sql, params);
  const more = rows.length > page.limit;
  const items = more ? rows.slice(0, page.limit) : rows;
  return { items, next_cursor: more ? encodeCursor(items[items.length - 1]!.id) : null };
}

/** The single row of `select` with the given condition, or a 404 naming `what`. */
export async function getOne<T>(q: Queryable, select: string, condition: string, value: unknown, what: string): Promise<T> {
  const { rows } = await q.query(`${select} WHERE ${condition} = $1`, [value]);
  if (!rows[0]) throw notFound(what);
  return rows[0] as T;
}

type Values = Record<string, unknown>;

const defined = (values: Values) => Object.entries(values).filter(([, v]) => v !== undefined);

/** A table and how the API shows its rows: `view(from)` selects from `from` aliased as t. */
export interface Resource {
  table: string;
  view(from: string): string;
  /** The view over the table itself. */
  select: string;
}

export function resource(table: string, view: (from: string) => string): Resource {
  return { table, view, select: view(`statehub.${table}`) };
}

/** Inserts a row and returns it as the resource shows it, in one statement. */
export async function createAndGet<T>(q: Queryable, r: Resource, values: Values): Promise<T> {
  const entries = defined(values);
  const cols = entries.map(([k]) => `"${k}"`).join(', ');
  const placeholders = entries.map((_, i) => `$${i + 1}`).join(', ');
  const { rows } = await q.query(
    `WITH created AS (INSERT INTO statehub.${r.table} (${cols}) VALUES (${placeholders}) RETURNING *) ${r.view('created')}`,
    entries.map(([, v]) => v),
  );
  return rows[0] as T;
}

/**
 * Updates one row found by `keyColumn` and returns it as the resource shows it, in one
 * statement (no explicit transaction, one round trip); 404 naming `what` when absent.
 */
export async function patchAndGet<T>(
  q: Queryable,
  r: Resource,
  keyColumn: 'id' | 'slug',
  key: unknown,
  values: Values,
  what: string,
): Promise<T> {
  const entries = defined(values);
  if (entries.length === 0) return getOne<T>(q, r.select, `t.${keyColumn}`, key, what);
  const sets = entries.map(([k], i) => `"${k}" = $${i + 2}`).join(', ');
  const { rows } = await q.query(
    `WITH changed AS (UPDATE statehub.${r.table} SET ${sets} WHERE "${keyColumn}" = $1 RETURNING *) ${r.view('changed')}`,
    [key, ...entries.map(([, v]) => v)],
  );
  if (!rows[0]) throw notFound(what);
  return rows[0] as T;
}

/** The id of the row with this slug, or a 422 naming the field that referred to it. */
export async function idOfSlug(q: Queryable, table: string, slugValue: string, field: string): Promise<number> {
  const { rows } = await q.query<{ id: number }>(`SELECT id FROM statehub.${table} WHERE slug = $1`, [slugValue]);
  if (!rows[0]) throw new HttpError(422, 'Unprocessable Content', `${field} ${slugValue} does not exist`, [{ field, message: 'does not exist' }]);
  return rows[0].id;
}

/** Rejects a PATCH body with nothing in it, which is almost always a client mistake. */
export const nonEmpty = <T extends z.ZodObject>(schema: T) =>
  schema.refine((v) => Object.values(v).some((x) => x !== undefined), { message: 'give at least one field to change' });
