-- Event capture: org.statehub.workstream.completed
-- Fires when a workstream's status becomes 'completed' from any other status. The WHEN
-- clause makes PostgreSQL skip the function for every other update, so edits of a title or
-- a second update of an already completed row cost nothing and record nothing.
-- completed and cancelled are final (sql/110), so a workstream completes at most once.

CREATE OR REPLACE FUNCTION statehub.tg_workstreams__capture_completed() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO statehub.outbox (subject, ordering_key, attributes)
  VALUES ('org.statehub.workstream.completed',
          'workstream:' || NEW.id,
          jsonb_build_object(
            'workstream_id', NEW.id,
            'slug', NEW.slug,
            'title', NEW.title,
            'topic_id', NEW.topic_id,
            'repo_id', NEW.repo_id,
            'repo_goal_id', NEW.repo_goal_id));
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION statehub.tg_workstreams__capture_completed() IS
  'AFTER UPDATE OF status on workstreams, only on the change to completed: records org.statehub.workstream.completed (ordering_key workstream:<id>).';

CREATE OR REPLACE TRIGGER _500_capture_workstream_completed AFTER UPDATE OF status ON statehub.workstreams
  FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status <> 'completed')
  EXECUTE FUNCTION statehub.tg_workstreams__capture_completed();
COMMENT ON TRIGGER _500_capture_workstream_completed ON statehub.workstreams IS
  'Captures org.statehub.workstream.completed when status changes to completed (statehub.tg_workstreams__capture_completed).';
