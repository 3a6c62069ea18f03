// The values operations take and return, defined once for every transport. Inputs are JSON
// values (an id is a number); the HTTP adapter reads path and query text into them
// (src/api/route.ts). Outputs describe the JSON a result becomes.
import { z } from 'zod';
import { SLUG_PATTERN, SLUG_RULE } from '../slug.ts';

export const MAX_PAGE = 500;

/** A whole number in [min, max]; never coerced from text or booleans. */
export const wholeNumber = (min: number, max: number) => z.number().int().min(min).max(max);

/** An id: a positive whole number. */
export const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

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
  .regex(SLUG_PATTERN, SLUG_RULE);
export const title = text({ min: 1, max: 500 });
export const description = text({ max: 10_000, trim: false });

/**
 * A whole number as a path or query string carries it, by one rule everywhere: decimal digits
 * only, no sign, spaces, exponent, hex or leading zeros ("0x10", "1e2", " 5", "01" are refused).
 */
export const digitsText = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,14})$/, 'expected a whole number in plain decimal digits')
  .transform(Number);

/** An id in decimal text. */
export const idText = digitsText.pipe(id);

/**
 * A resource named by id (12, or "12") or by slug ("state-hub"). All digits means an id, so
 * "012" is a bad id rather than a slug, and a slug made of digits only is reached by its id.
 */
export const idOrSlug = z
  .union([id, z.string()], { error: 'expected an id (a positive whole number) or a slug' })
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const parsed = (/^[0-9]+$/.test(value) ? idText : slug).safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
    return z.NEVER;
  })
  .meta({ description: 'an id or a slug' });

/** The fields of a paged list. */
export const pageInput = {
  limit: wholeNumber(1, MAX_PAGE).default(100).meta({ description: `how many items at most (1-${MAX_PAGE})` }),
  /** Opaque: the next_cursor of the previous page; null (a last page's) is as good as none. */
  cursor: z
    .string()
    .max(100)
    .nullish()
    .transform((v) => v ?? undefined)
    .meta({ description: 'next_cursor of the previous page, to continue after it' }),
};

/** Rejects a change with nothing in it, which is almost always a caller's mistake. */
export const nonEmpty = <T extends z.ZodObject>(schema: T) =>
  schema.refine((v) => Object.values(v).some((x) => x !== undefined), { message: 'give at least one field to change' });

/** A timestamp in a result: ISO 8601 in UTC, as JSON renders a database timestamptz. */
export const timestamp = z.iso.datetime();

/** A page of a list: the items and where the next page starts. */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().meta({ description: 'pass as cursor for the next page; null on the last one' }),
  });
