// The three-way merge of one field, with the value the file had at the last sync that agreed
// with the hub as the base. docs/workplans.md has the rule as a table, and
// test/sync-merge.test.ts checks this function against that table row by row.
import type { Value } from './report.ts';

export type Merge =
  /** Nothing to do. */
  | 'same'
  /** The hub already has the file's value: it becomes the base. */
  | 'agree'
  /** Write the file's value to the hub (unless the database refuses the change: a conflict). */
  | 'apply'
  /** Changed in the hub, not in the file: the hub keeps its value, reported as file behind hub. */
  | 'behind'
  /** Both changed, differently. */
  | 'conflict';

/** `base` undefined: file and hub never agreed on this field (a first sync). */
export function mergeField(base: Value | undefined, file: Value, hub: Value): Merge {
  if (base === undefined) return file === hub ? 'agree' : 'apply';
  if (file === base) return hub === base ? 'same' : 'behind';
  if (hub === base) return 'apply';
  return hub === file ? 'agree' : 'conflict';
}

/**
 * The legal status changes, as statehub.status_transitions lists them. The database enforces
 * them on every write; the engine reads them to tell a dry run which changes it would refuse.
 */
export class Transitions {
  private readonly legal: Set<string>;

  constructor(rows: Array<{ entity: string; from_status: string | null; to_status: string }>) {
    this.legal = new Set(rows.map((r) => `${r.entity}:${r.from_status}:${r.to_status}`));
  }

  /** The database's words for a refused change, or undefined when it is legal. */
  refusal(entity: 'workstream' | 'task', from: string, to: string): string | undefined {
    if (from === to || this.legal.has(`${entity}:${from}:${to}`)) return undefined;
    return `a ${entity} cannot go from ${from} to ${to}`;
  }
}
