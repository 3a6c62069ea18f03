// What a sync answers (POST /repos/:slug/sync, statehub sync --json, the get_repo_drift tool):
// per workplan file what changed in the hub, what could not be reconciled and why, and the
// items that came from a file and are gone from it. docs/workplans.md describes each field.
import { z } from 'zod';

/** A field's value in a file or the hub: a title, status or topic slug, a repo goal id, or none. */
export const value = z.union([z.string(), z.number(), z.null()]);
export type Value = z.infer<typeof value>;

/** The fields the engine reconciles; `file` and `repo` are where a workstream comes from. */
export const field = z.enum(['title', 'status', 'topic', 'repo_goal', 'repo', 'file']);
export type Field = z.infer<typeof field>;

const item = z.string().meta({ description: 'the workplan id, or the id and a task key ("CUST-WP-0040 T05")' });

export const change = z.object({
  item,
  change: z.enum(['created', 'updated', 'pruned']),
  field: field.optional(),
  from: value.optional(),
  to: value.optional(),
});

export const conflict = z.object({
  item,
  /** Absent when creating the item was refused. */
  field: field.optional(),
  base: value.optional().meta({ description: 'the value file and hub last agreed on; absent when they never did' }),
  file: value,
  hub: value,
  reason: z.string(),
});

export const behind = z.object({ item, field, file: value, hub: value });

export const lineError = z.object({
  line: z.number().nullable().meta({ description: '1-based; null for a problem of the whole file' }),
  message: z.string(),
});

export const outcome = z.enum(['created', 'updated', 'unchanged', 'invalid', 'conflict']);

/** Entries a file's list shows (changes, conflicts, file_behind_hub, errors, each). */
export const MAX_PER_FILE = 100;
/** Entries all the files' lists show together; past it, files show their counts only. */
export const MAX_ENTRIES = 5000;

/** A file report's lists, which bounded() cuts and counts. */
export const REPORT_LISTS = ['errors', 'changes', 'conflicts', 'file_behind_hub'] as const;
const shown = `at most ${MAX_PER_FILE} per file and ${MAX_ENTRIES} in the whole report; counts has how many there are`;

export const fileReport = z.object({
  path: z.string().meta({ description: 'inside the repo, e.g. workplans/CUST-WP-0040-events.md' }),
  workplan_id: z.string().nullable(),
  workstream_id: z.number().nullable(),
  outcome,
  changes: z.array(change).meta({ description: shown }),
  conflicts: z.array(conflict).meta({ description: shown }),
  file_behind_hub: z.array(behind).meta({ description: `changed in the hub and not in the file: the hub keeps its value; ${shown}` }),
  errors: z.array(lineError).meta({ description: shown }),
  counts: z
    .object({ changes: z.number(), conflicts: z.number(), file_behind_hub: z.number(), errors: z.number() })
    .meta({ description: 'how many entries each list has, shown or not' }),
});

export const missing = z.object({
  item,
  path: z.string().meta({ description: 'the file it came from' }),
  workstream_id: z.number(),
  task_id: z.number().nullable(),
  status: z.string().meta({ description: 'its status in the hub, after pruning' }),
  pruned: z.boolean().meta({ description: 'true when this sync cancelled it (prune)' }),
  prune_refused: z.string().optional().meta({ description: 'why the database refused to cancel it, when prune was asked for and refused' }),
});

export const MAX_MISSING = 1000;

export const syncReport = z.object({
  repo: z.string(),
  dry_run: z.boolean(),
  prune: z.boolean(),
  files: z.array(fileReport),
  missing_from_file: z.array(missing).meta({ description: `at most ${MAX_MISSING}; see missing_from_file_truncated` }),
  missing_from_file_truncated: z.boolean(),
  summary: z.object({
    files: z.number(),
    created: z.number(),
    updated: z.number(),
    unchanged: z.number(),
    invalid: z.number(),
    conflicts: z.number().meta({ description: 'files with at least one conflict' }),
  }),
});

export type Change = z.infer<typeof change>;
export type Conflict = z.infer<typeof conflict>;
export type Behind = z.infer<typeof behind>;
export type LineError = z.infer<typeof lineError>;
export type FileReport = z.infer<typeof fileReport>;
export type Missing = z.infer<typeof missing>;
export type SyncReport = z.infer<typeof syncReport>;

/**
 * Cuts each file's report, given in file order, to MAX_PER_FILE entries per list and
 * MAX_ENTRIES in all, and counts each list: a repo of 2,000 files of 2,000 tasks would otherwise
 * answer hundreds of megabytes. Cut as each file is done, the whole lists never pile up.
 */
export function reportCutter(): (file: Omit<FileReport, 'counts'>) => FileReport {
  let room = MAX_ENTRIES;
  return (file) => {
    const cut = { ...file, counts: { changes: 0, conflicts: 0, file_behind_hub: 0, errors: 0 } } as FileReport;
    for (const list of REPORT_LISTS) {
      const all = file[list] as unknown[];
      const keep = Math.min(all.length, MAX_PER_FILE, room);
      room -= keep;
      cut.counts[list] = all.length;
      (cut[list] as unknown[]) = all.slice(0, keep);
    }
    return cut;
  };
}

/** The outcome of a file: invalid, else conflict, else created (its workstream), updated or unchanged. */
export function outcomeOf(r: Pick<FileReport, 'changes' | 'conflicts' | 'errors'>, createdWorkstream: boolean): z.infer<typeof outcome> {
  if (r.errors.length) return 'invalid';
  if (r.conflicts.length) return 'conflict';
  if (createdWorkstream) return 'created';
  return r.changes.length ? 'updated' : 'unchanged';
}

export function summarize(files: Array<Pick<FileReport, 'outcome'>>): SyncReport['summary'] {
  const count = (o: string) => files.filter((f) => f.outcome === o).length;
  return {
    files: files.length,
    created: count('created'),
    updated: count('updated'),
    unchanged: count('unchanged'),
    invalid: count('invalid'),
    conflicts: count('conflict'),
  };
}
