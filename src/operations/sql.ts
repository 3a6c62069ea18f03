// Building blocks of the operations' SQL: keyset pagination and parameterized INSERT/UPDATE.
// Column names only ever come from zod-validated object keys; values are always parameters.
import type { Queryable } from '../db.ts';
import { invalid, notFound, unknownReference } from './errors.ts';

export interface Page<T> {
  items: T[];
  /** Pass as cursor for the next page; null on the last one. */
  next_cursor: string | null;
}

export interface PageInput {
  limit: number;
  cursor?: string | undefined;
}

/** The answer to a cursor that no page handed out (or that was altered). */
export const badCursor = () => invalid('cursor is not one this API issued', [{ field: 'cursor', message: 'invalid cursor' }]);

const encodeCursor = (lastId: number) => Buffer.from(`id:${lastId}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const m = /^id:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw badCursor();
  return Number(m[1]);
}

/** A WHERE condition; `$` in sql stands for the value's placeholder. */
export type Filter = { sql: string; value: unknown } | undefined;

export const when = (value: unknown, sql: string): Filter => (value === undefined ? undefined : { sql, value });

/**
 * A filter on a referenced resource, named after it (repo, workstream): an id matches
 * `idColumn` directly, a slug through the referenced table (which must have a slug column).
 * An unknown slug matches nothing.
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
export async function listPage<T extends { id: number }>(q: Queryable, select: string, filters: Filter[], page: PageInput): Promise<Page<T>> {
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

/** The single row of `select` with the given condition, or not_found naming `what`. */
export async function getOne<T>(q: Queryable, select: string, condition: string, value: unknown, what: string): Promise<T> {
  const { rows } = await q.query(`${select} WHERE ${condition} = $1`, [value]);
  if (!rows[0]) throw notFound(what);
  return rows[0] as T;
}

type Values = Record<string, unknown>;

const defined = (values: Values) => Object.entries(values).filter(([, v]) => v !== undefined);

/** A table and how results show its rows: `view(from)` selects from `from` aliased as t. */
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
 * statement (no explicit transaction, one round trip); not_found naming `what` when absent.
 */
export async function patchAndGet<T>(q: Queryable, r: Resource, keyColumn: 'id' | 'slug', key: unknown, values: Values, what: string): Promise<T> {
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

/** The id of the row with this slug, or unknown_reference naming the field that referred to it. */
export async function idOfSlug(q: Queryable, table: string, slugValue: string, field: string): Promise<number> {
  const { rows } = await q.query<{ id: number }>(`SELECT id FROM statehub.${table} WHERE slug = $1`, [slugValue]);
  if (!rows[0]) throw unknownReference(field, slugValue);
  return rows[0].id;
}
