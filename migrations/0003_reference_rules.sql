-- Up Migration
-- References of one row that must agree with each other, as composite foreign keys: PostgreSQL
-- checks them on both sides (the referencing row and the referenced one) and under every
-- isolation level. The rules that span three tables live in sql/125_reference_rules.sql.
-- A breach raises 23503 naming the constraint; the API answers 409 with the rule.

-- A progress event that names both a task and a workstream names the task's workstream.
-- MATCH SIMPLE (the default): an event with only one of the two is not checked here.
ALTER TABLE statehub.tasks ADD CONSTRAINT tasks_id_workstream_id_key UNIQUE (id, workstream_id);
ALTER TABLE statehub.progress_events ADD CONSTRAINT progress_events_task_in_workstream
  FOREIGN KEY (task_id, workstream_id) REFERENCES statehub.tasks (id, workstream_id);
COMMENT ON CONSTRAINT progress_events_task_in_workstream ON statehub.progress_events IS
  'The task of a progress event belongs to the workstream the event names; also refuses moving such a task.';

-- A workstream's repo goal is a goal of the workstream's repo, so a goal needs the repo too.
ALTER TABLE statehub.repo_goals ADD CONSTRAINT repo_goals_id_repo_id_key UNIQUE (id, repo_id);
ALTER TABLE statehub.workstreams ADD CONSTRAINT workstreams_repo_goal_needs_repo
  CHECK (repo_goal_id IS NULL OR repo_id IS NOT NULL);
ALTER TABLE statehub.workstreams ADD CONSTRAINT workstreams_repo_goal_of_repo
  FOREIGN KEY (repo_goal_id, repo_id) REFERENCES statehub.repo_goals (id, repo_id);
COMMENT ON CONSTRAINT workstreams_repo_goal_of_repo ON statehub.workstreams IS
  'The repo goal of a workstream is a goal of the workstream''s repo; also refuses moving such a goal to another repo.';

-- Down Migration
ALTER TABLE statehub.workstreams DROP CONSTRAINT workstreams_repo_goal_of_repo;
ALTER TABLE statehub.workstreams DROP CONSTRAINT workstreams_repo_goal_needs_repo;
ALTER TABLE statehub.repo_goals DROP CONSTRAINT repo_goals_id_repo_id_key;
ALTER TABLE statehub.progress_events DROP CONSTRAINT progress_events_task_in_workstream;
ALTER TABLE statehub.tasks DROP CONSTRAINT tasks_id_workstream_id_key;
