// The status values of each entity, once for every transport. They mirror the enum types of
// migrations/0001_schema.sql; test/statuses.test.ts keeps the two equal.
import { z } from 'zod';

export const domainGoalStatus = z.enum(['draft', 'active', 'superseded', 'achieved', 'abandoned']);
export const repoGoalStatus = z.enum(['draft', 'active', 'achieved', 'abandoned']);
export const workstreamStatus = z.enum(['planned', 'active', 'blocked', 'completed', 'cancelled']);
export const taskStatus = z.enum(['todo', 'in_progress', 'blocked', 'done', 'cancelled']);
export const decisionStatus = z.enum(['open', 'resolved', 'withdrawn']);

export type WorkstreamStatus = z.infer<typeof workstreamStatus>;
export type TaskStatus = z.infer<typeof taskStatus>;

/** Each database enum type and the schema that mirrors it. */
export const statusEnums = {
  domain_goal_status: domainGoalStatus,
  repo_goal_status: repoGoalStatus,
  workstream_status: workstreamStatus,
  task_status: taskStatus,
  decision_status: decisionStatus,
} as const;
