// The MCP tools: read tools, plus exactly the sanctioned writes. Each binds an operation
// (src/operations) under a name and a description written for a model; its input fields are
// the operation's own (some renamed), its output schema the operation's. Whether a tool is
// read-only is the operation's `writes`, not a second list.
import { z } from 'zod';
import { decisions } from '../operations/decisions.ts';
import { domains } from '../operations/domains.ts';
import { idOrSlug } from '../operations/fields.ts';
import type { Operation } from '../operations/operation.ts';
import { progressEvents } from '../operations/progress-events.ts';
import { readModels } from '../operations/read-models.ts';
import { workplans } from '../operations/workplans.ts';
import { workstreams } from '../operations/workstreams.ts';

export interface Tool {
  name: string;
  title: string;
  /** For a model: when to use it and what it returns. */
  description: string;
  op: Operation;
  input: z.ZodObject;
  /** The operation's input from the tool's arguments (as the input schema parsed them). */
  toOp(args: Record<string, unknown>): Record<string, unknown>;
  /** Operation fields the tool calls otherwise, for its error messages (id → decision_id). */
  argumentOf: Record<string, string>;
}

type Shape = Record<string, z.ZodType>;

/** A tool taking the operation's input fields, some `renamed` (operation field → argument). */
function fieldsOf(op: Operation, renamed: Record<string, string> = {}): Pick<Tool, 'input' | 'toOp' | 'argumentOf'> {
  const shape: Shape = {};
  for (const [name, field] of Object.entries(op.input.shape as Shape)) shape[renamed[name] ?? name] = field;
  const back = Object.fromEntries(Object.entries(renamed).map(([opName, toolName]) => [toolName, opName]));
  return {
    input: z.strictObject(shape),
    toOp: (args) => Object.fromEntries(Object.entries(args).map(([k, v]) => [back[k] ?? k, v])),
    argumentOf: renamed,
  };
}

const paging = 'Pages: pass the next_cursor of a result as cursor to get the next page; next_cursor is null on the last one.';

export const tools: Tool[] = [
  {
    name: 'get_next_steps',
    title: 'Next steps',
    description:
      'What needs doing next across the hub, most urgent first: blocked tasks, then open decisions, then tasks in progress, then tasks to do (only tasks of active workstreams), oldest first within each. ' +
      'Each item names its workstream, repo and domain. Use it to decide what to work on or what to ask a person about; give domain (slug or id) to see one domain only. ' +
      paging,
    op: readModels.nextSteps,
    ...fieldsOf(readModels.nextSteps),
  },
  {
    name: 'list_domains',
    title: 'List domains',
    description: 'The domains of the hub (areas of work, each with repos, topics and goals), by id. Use it to learn the domain slugs other tools take. ' + paging,
    op: domains.list,
    ...fieldsOf(domains.list),
  },
  {
    name: 'get_domain_overview',
    title: 'Domain overview',
    description:
      'One domain at a glance: its active goal, its repos, how many of its workstreams have each status (with the planned, active and blocked ones listed) and its open decisions. ' +
      'Use it to get oriented in a domain before looking at single workstreams.',
    op: readModels.domainOverview,
    ...fieldsOf(readModels.domainOverview, { slug: 'domain' }),
  },
  {
    name: 'list_workstreams',
    title: 'List workstreams',
    description:
      'Workstreams (units of planned work, each in a topic and usually a repo), by id, optionally only those with a status, in a repo or in a topic (each by slug or id). ' +
      'Use get_workstream for one workstream with its tasks. ' + paging,
    op: workstreams.list,
    ...fieldsOf(workstreams.list),
  },
  {
    name: 'get_workstream',
    title: 'Workstream detail',
    description:
      'One workstream, by slug or id, with its tasks, its open decisions and its latest progress events (newest first). ' +
      'Use it before working on a workstream or reporting progress on it.',
    op: workstreams.detail,
    ...fieldsOf(workstreams.detail),
  },
  {
    name: 'list_decisions',
    title: 'List decisions',
    description:
      'Decisions (questions that work waits on, each open, resolved or withdrawn), by id, optionally only those with a status, of a workstream or of a topic (by slug or id). ' + paging,
    op: decisions.list,
    ...fieldsOf(decisions.list),
  },
  {
    name: 'get_decision',
    title: 'Get a decision',
    description: 'One decision by id: its title, status, and once resolved who decided it, why and when.',
    op: decisions.get,
    ...fieldsOf(decisions.get),
  },
  {
    name: 'get_repo_drift',
    title: 'Repo drift',
    description:
      "Where a repo's workplan files (Markdown plans committed in the repo) and the hub disagree: what a sync would create or change, " +
      'conflicts it could not reconcile, files with errors (with line numbers), hub changes the files do not show yet, and items gone from their file. ' +
      'Changes nothing. Use it before editing a workplan file or to explain why the hub and a plan differ.',
    op: workplans.drift,
    ...fieldsOf(workplans.drift, { slug: 'repo' }),
  },
  {
    name: 'resolve_decision',
    title: 'Resolve a decision',
    description:
      'Records the outcome of an open decision: who decided (decided_by) and why (rationale). Only an open decision can be resolved, once; ' +
      'a resolved or withdrawn one is refused. The hub announces the resolution to downstream automation. Returns the resolved decision.',
    op: decisions.resolve,
    ...fieldsOf(decisions.resolve, { id: 'decision_id' }),
  },
  {
    name: 'add_progress_event',
    title: 'Add a progress event',
    description:
      'Appends a progress note to a workstream (by slug or id) and/or one of its tasks (task_id): what was done, found or decided; ' +
      'give at least one of them, or the note belongs to no work. kind says what sort of progress (note by default; commit, review...). ' +
      'Progress events cannot be changed or deleted afterwards. Returns the event.',
    op: progressEvents.create,
    input: z.strictObject({
      workstream: idOrSlug.optional().meta({ description: 'the workstream, by slug or id' }),
      task_id: (progressEvents.create.input.shape.task_id as z.ZodType).meta({ description: 'a task of that workstream' }),
      kind: progressEvents.create.input.shape.kind,
      message: progressEvents.create.input.shape.message,
    }),
    toOp: ({ workstream, ...rest }) =>
      workstream === undefined ? rest : { ...rest, [typeof workstream === 'number' ? 'workstream_id' : 'workstream_slug']: workstream },
    argumentOf: { workstream_id: 'workstream', workstream_slug: 'workstream' },
  },
];
