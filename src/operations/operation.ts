// What an operation is: one use case, with its input and output schemas, the SQL it runs and a
// plain result. It knows no transport: src/api and src/mcp bind operations to their own forms.
import type { z } from 'zod';
import { loadConfig, type Config } from '../config.ts';
import type { Db } from '../db.ts';

/** What operations read from the configuration: the same for every call in one process. */
export interface Settings {
  /** Directories inside which sync may read workplan files (WORKPLAN_ROOTS); none: sync is off. */
  workplanRoots: readonly string[];
  /** How long a repo's workplan files may take to read and parse (SYNC_READ_BUDGET), in ms. */
  readBudgetMs: number;
}

/** The settings of a process configured by `config`. */
export const settingsOf = (config: Config): Settings => ({ workplanRoots: config.WORKPLAN_ROOTS, readBudgetMs: config.SYNC_READ_BUDGET });

/** The defaults: sync off. */
export const noSettings: Settings = settingsOf(loadConfig({}));

export interface Operation<I extends z.ZodObject = z.ZodObject, O extends z.ZodType = z.ZodType> {
  /** What it does, in one line (the HTTP summary; the start of a tool's description). */
  summary: string;
  input: I;
  /** The JSON the result becomes (Dates as ISO strings). */
  output: O;
  /** Whether it changes the hub. Read-only sets (read tokens, MCP annotations) derive from this. */
  writes: boolean;
  run(input: z.output<I>, db: Db, settings: Settings): Promise<unknown>;
}

/** Declares an operation; the identity function, there for the types. */
export const operation = <I extends z.ZodObject, O extends z.ZodType>(op: Operation<I, O>): Operation<I, O> => op;
