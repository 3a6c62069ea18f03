-- Up Migration
-- A progress event records progress on some work: it names a workstream, a task, or both. The
-- API and MCP accepted a note naming neither before this migration, so the check is added
-- NOT VALID (every new row is checked from now on) and then validated; when such notes already
-- exist it stays NOT VALID and a WARNING says how to find them (docs/status-transitions.md).
-- A breach raises 23514 naming the constraint; the API answers 422 with the rule.
ALTER TABLE statehub.progress_events ADD CONSTRAINT progress_events_names_work
  CHECK (workstream_id IS NOT NULL OR task_id IS NOT NULL) NOT VALID;
COMMENT ON CONSTRAINT progress_events_names_work ON statehub.progress_events IS
  'A progress event names the work it is about: a workstream, a task, or both.';

DO $$
BEGIN
  ALTER TABLE statehub.progress_events VALIDATE CONSTRAINT progress_events_names_work;
EXCEPTION WHEN check_violation THEN
  RAISE WARNING 'statehub.progress_events: notes written before this rule name no work; it holds for new events only until they are repaired'
    USING HINT = 'find them with the query in docs/status-transitions.md, then: ALTER TABLE statehub.progress_events VALIDATE CONSTRAINT progress_events_names_work';
END;
$$;

-- Down Migration
ALTER TABLE statehub.progress_events DROP CONSTRAINT progress_events_names_work;
