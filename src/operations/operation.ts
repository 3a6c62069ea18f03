// What an operation is: one use case, with its input and output schemas, the SQL it runs and a
// plain result. It knows no transport: src/api and src/mcp bind operations to their own forms.
import type { z } from 'zod';
import type { Db } from '../db.ts';

export interface Operation<I extends z.ZodObject = z.ZodObject, O extends z.ZodType = z.ZodType> {
  /** What it does, in one line (the HTTP summary; the start of a tool's description). */
  summary: string;
  input: I;
  /** The JSON the result becomes (Dates as ISO strings). */
  output: O;
  /** Whether it changes the hub. Read-only sets (read tokens, MCP annotations) derive from this. */
  writes: boolean;
  run(input: z.output<I>, db: Db): Promise<unknown>;
}

/** Declares an operation; the identity function, there for the types. */
export const operation = <I extends z.ZodObject, O extends z.ZodType>(op: Operation<I, O>): Operation<I, O> => op;
