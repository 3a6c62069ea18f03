-- Event capture: org.statehub.decision.resolved
-- Fires when a decision's status becomes 'resolved'. The CHECK on statehub.decisions makes
-- decided_by and rationale non-null by then; the event carries only the first 280
-- characters of the rationale (consumers read the full text from the hub if they need it).

CREATE OR REPLACE FUNCTION statehub.tg_decisions__capture_resolved() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO statehub.outbox (subject, ordering_key, attributes)
  VALUES ('org.statehub.decision.resolved',
          'decision:' || NEW.id,
          jsonb_build_object(
            'decision_id', NEW.id,
            'title', NEW.title,
            'topic_id', NEW.topic_id,
            'workstream_id', NEW.workstream_id,
            'decided_by', NEW.decided_by,
            'rationale_snippet', left(NEW.rationale, 280)));
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION statehub.tg_decisions__capture_resolved() IS
  'AFTER UPDATE OF status on decisions, only on the change to resolved: records org.statehub.decision.resolved (ordering_key decision:<id>).';

CREATE OR REPLACE TRIGGER _500_capture_decision_resolved AFTER UPDATE OF status ON statehub.decisions
  FOR EACH ROW WHEN (NEW.status = 'resolved' AND OLD.status <> 'resolved')
  EXECUTE FUNCTION statehub.tg_decisions__capture_resolved();
COMMENT ON TRIGGER _500_capture_decision_resolved ON statehub.decisions IS
  'Captures org.statehub.decision.resolved when status changes to resolved (statehub.tg_decisions__capture_resolved).';
