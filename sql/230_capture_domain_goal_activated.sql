-- Event capture: org.statehub.domain.goal.activated
-- Fires when a domain goal's status becomes 'active'. statehub.activate_domain_goal()
-- (sql/130) first supersedes the domain's active goal (status superseded, superseded_by =
-- the new goal) in one statement, then activates the new goal in a second one. This is an
-- AFTER row trigger on that second statement, so the superseded rows are already visible
-- and superseded_goal_ids lists exactly them ([] when nothing was superseded).
-- A goal is activated at most once (draft -> active, never back), so every goal pointing at
-- it through superseded_by was superseded in favour of this activation.
-- A goal whose domain row cannot be found makes the activation fail rather than record nothing.

CREATE OR REPLACE FUNCTION statehub.tg_domain_goals__capture_activated() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_domain_slug text;
BEGIN
  SELECT d.slug INTO v_domain_slug FROM statehub.domains d WHERE d.id = NEW.domain_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'domain goal % refers to domain %, which does not exist: its domain.goal.activated event cannot be captured', NEW.id, NEW.domain_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  INSERT INTO statehub.outbox (subject, ordering_key, attributes)
  VALUES ('org.statehub.domain.goal.activated',
          'domain:' || NEW.domain_id,
          jsonb_build_object(
            'goal_id', NEW.id,
            'domain_id', NEW.domain_id,
            'domain_slug', v_domain_slug,
            'title', NEW.title,
            'superseded_goal_ids', (SELECT coalesce(jsonb_agg(g.id ORDER BY g.id), '[]'::jsonb)
                                      FROM statehub.domain_goals g
                                     WHERE g.superseded_by = NEW.id)));
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION statehub.tg_domain_goals__capture_activated() IS
  'AFTER UPDATE OF status on domain_goals, only on the change to active: records org.statehub.domain.goal.activated (ordering_key domain:<domain_id>).';

CREATE OR REPLACE TRIGGER _500_capture_domain_goal_activated AFTER UPDATE OF status ON statehub.domain_goals
  FOR EACH ROW WHEN (NEW.status = 'active' AND OLD.status <> 'active')
  EXECUTE FUNCTION statehub.tg_domain_goals__capture_activated();
COMMENT ON TRIGGER _500_capture_domain_goal_activated ON statehub.domain_goals IS
  'Captures org.statehub.domain.goal.activated when status changes to active (statehub.tg_domain_goals__capture_activated).';
