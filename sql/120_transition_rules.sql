-- Status rules, enforced for every writer (API, psql, scripts, migrations).
--   * _200_check_transition refuses a status change (or initial status) that
--     statehub.status_transitions does not list: SQLSTATE SH001, mapped to HTTP 409.
--   * _210_stamp_* record when a workstream completed, a decision was resolved and a goal
--     was activated; the WHEN clause means they only run on that very transition.
--   * progress_events is append-only: SQLSTATE SH002.

CREATE OR REPLACE FUNCTION statehub.tg__check_transition() RETURNS trigger
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_entity text := TG_ARGV[0];
  v_from   text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status::text END;
BEGIN
  -- Writing the status a row already has is not a transition.
  IF v_from = NEW.status::text THEN
    RETURN NEW;
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM statehub.status_transitions t
     WHERE t.entity = v_entity
       AND t.from_status IS NOT DISTINCT FROM v_from
       AND t.to_status = NEW.status::text
  ) THEN
    RAISE EXCEPTION '%', CASE WHEN v_from IS NULL
                              THEN format('a %s cannot be created with status %s', v_entity, NEW.status)
                              ELSE format('a %s cannot go from %s to %s', v_entity, v_from, NEW.status) END
      USING ERRCODE = 'SH001',
            DETAIL = format('entity=%s from=%s to=%s', v_entity, coalesce(v_from, '(new)'), NEW.status),
            HINT = 'legal changes are listed in statehub.status_transitions';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION statehub.tg__check_transition() IS
  'BEFORE INSERT/UPDATE OF status: refuses changes not listed in statehub.status_transitions (SQLSTATE SH001). TG_ARGV[0] = entity.';

CREATE OR REPLACE FUNCTION statehub.tg__stamp_now() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- TG_ARGV[0] names the timestamp column to set.
  NEW := jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[0], now()));
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION statehub.tg__stamp_now() IS
  'BEFORE UPDATE: sets the column named by TG_ARGV[0] to now(); used with a WHEN clause on one transition.';

CREATE OR REPLACE FUNCTION statehub.tg__append_only() RETURNS trigger
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
    USING ERRCODE = 'SH002', HINT = 'record a new progress event instead of changing one';
END;
$$;
COMMENT ON FUNCTION statehub.tg__append_only() IS 'BEFORE UPDATE/DELETE: refuses the change (SQLSTATE SH002).';

DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES ('domain_goals', 'domain_goal'), ('repo_goals', 'repo_goal'),
                                 ('workstreams', 'workstream'), ('tasks', 'task'), ('decisions', 'decision'))
                  AS v(tbl, entity)
  LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER _200_check_transition BEFORE INSERT OR UPDATE OF status ON statehub.%I
                    FOR EACH ROW EXECUTE FUNCTION statehub.tg__check_transition(%L)', r.tbl, r.entity);
    EXECUTE format('COMMENT ON TRIGGER _200_check_transition ON statehub.%I IS %L', r.tbl,
                   'Refuses status changes not in statehub.status_transitions (SH001).');
  END LOOP;
END;
$$;

CREATE OR REPLACE TRIGGER _210_stamp_completed_at BEFORE UPDATE OF status ON statehub.workstreams
  FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status <> 'completed')
  EXECUTE FUNCTION statehub.tg__stamp_now('completed_at');
COMMENT ON TRIGGER _210_stamp_completed_at ON statehub.workstreams IS 'Sets completed_at when the workstream completes.';

CREATE OR REPLACE TRIGGER _210_stamp_resolved_at BEFORE UPDATE OF status ON statehub.decisions
  FOR EACH ROW WHEN (NEW.status = 'resolved' AND OLD.status <> 'resolved')
  EXECUTE FUNCTION statehub.tg__stamp_now('resolved_at');
COMMENT ON TRIGGER _210_stamp_resolved_at ON statehub.decisions IS 'Sets resolved_at when the decision is resolved.';

CREATE OR REPLACE TRIGGER _210_stamp_activated_at BEFORE UPDATE OF status ON statehub.domain_goals
  FOR EACH ROW WHEN (NEW.status = 'active' AND OLD.status <> 'active')
  EXECUTE FUNCTION statehub.tg__stamp_now('activated_at');
COMMENT ON TRIGGER _210_stamp_activated_at ON statehub.domain_goals IS 'Sets activated_at when the goal becomes active.';

CREATE OR REPLACE TRIGGER _200_append_only BEFORE UPDATE OR DELETE ON statehub.progress_events
  FOR EACH ROW EXECUTE FUNCTION statehub.tg__append_only();
COMMENT ON TRIGGER _200_append_only ON statehub.progress_events IS 'progress_events rows are never changed or deleted (SH002).';
