-- Up Migration
-- References of one row that must agree with each other, as composite foreign keys: PostgreSQL
-- checks them on both sides (the referencing row and the referenced one) and under every
-- isolation level. The rules that span three tables live in sql/125_reference_rules.sql.
-- A breach raises 23503 (or 23514) naming the constraint; the API answers 409 with the rule.
--
-- The API accepted such rows before this migration. So the constraints are added NOT VALID
-- (every new or changed row is checked from now on) and then validated; when rows already in
-- the database break a rule, that constraint stays NOT VALID and a WARNING says which and how
-- to find the rows. After repairing them: ALTER TABLE ... VALIDATE CONSTRAINT <name>.
-- docs/status-transitions.md has the queries.

-- A progress event that names both a task and a workstream names the task's workstream.
-- MATCH SIMPLE (the default): an event with only one of the two is not checked here.
ALTER TABLE statehub.tasks ADD CONSTRAINT tasks_id_workstream_id_key UNIQUE (id, workstream_id);
ALTER TABLE statehub.progress_events ADD CONSTRAINT progress_events_task_in_workstream
  FOREIGN KEY (task_id, workstream_id) REFERENCES statehub.tasks (id, workstream_id) NOT VALID;
COMMENT ON CONSTRAINT progress_events_task_in_workstream ON statehub.progress_events IS
  'The task of a progress event belongs to the workstream the event names; also refuses moving such a task.';

-- A workstream's repo goal is a goal of the workstream's repo, so a goal needs the repo too.
ALTER TABLE statehub.repo_goals ADD CONSTRAINT repo_goals_id_repo_id_key UNIQUE (id, repo_id);
ALTER TABLE statehub.workstreams ADD CONSTRAINT workstreams_repo_goal_needs_repo
  CHECK (repo_goal_id IS NULL OR repo_id IS NOT NULL) NOT VALID;
COMMENT ON CONSTRAINT workstreams_repo_goal_needs_repo ON statehub.workstreams IS
  'A workstream with a repo goal names its repo (see workstreams_repo_goal_of_repo).';
ALTER TABLE statehub.workstreams ADD CONSTRAINT workstreams_repo_goal_of_repo
  FOREIGN KEY (repo_goal_id, repo_id) REFERENCES statehub.repo_goals (id, repo_id) NOT VALID;
COMMENT ON CONSTRAINT workstreams_repo_goal_of_repo ON statehub.workstreams IS
  'The repo goal of a workstream is a goal of the workstream''s repo; also refuses moving such a goal to another repo.';

DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES
      ('progress_events', 'progress_events_task_in_workstream'),
      ('workstreams', 'workstreams_repo_goal_needs_repo'),
      ('workstreams', 'workstreams_repo_goal_of_repo')) AS v(tbl, con)
  LOOP
    BEGIN
      EXECUTE format('ALTER TABLE statehub.%I VALIDATE CONSTRAINT %I', r.tbl, r.con);
    EXCEPTION WHEN foreign_key_violation OR check_violation THEN
      RAISE WARNING 'statehub.%: rows written before this rule break %; it holds for new changes only until they are repaired',
                    r.tbl, r.con
        USING HINT = format('find them with the query in docs/status-transitions.md, then: ALTER TABLE statehub.%I VALIDATE CONSTRAINT %I',
                            r.tbl, r.con);
    END;
  END LOOP;
END;
$$;

-- Down Migration
ALTER TABLE statehub.workstreams DROP CONSTRAINT workstreams_repo_goal_of_repo;
ALTER TABLE statehub.workstreams DROP CONSTRAINT workstreams_repo_goal_needs_repo;
ALTER TABLE statehub.repo_goals DROP CONSTRAINT repo_goals_id_repo_id_key;
ALTER TABLE statehub.progress_events DROP CONSTRAINT progress_events_task_in_workstream;
ALTER TABLE statehub.tasks DROP CONSTRAINT tasks_id_workstream_id_key;
