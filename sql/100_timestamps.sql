-- updated_at is the time of the last change and created_at never changes after insert.
-- Trigger prefix _100 makes this the first BEFORE UPDATE trigger on every table.

CREATE OR REPLACE FUNCTION statehub.tg__timestamps() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  NEW.created_at := OLD.created_at;
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION statehub.tg__timestamps() IS
  'BEFORE UPDATE: keeps created_at, sets updated_at to the transaction time.';

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['domains', 'domain_goals', 'repos', 'repo_goals', 'topics', 'workstreams', 'tasks', 'decisions',
                           'workplan_workstreams', 'workplan_tasks']
  LOOP
    -- A table of a later migration, when migrating one step at a time (migrate up --count).
    CONTINUE WHEN to_regclass(format('statehub.%I', t)) IS NULL;
    EXECUTE format('CREATE OR REPLACE TRIGGER _100_timestamps BEFORE UPDATE ON statehub.%I
                    FOR EACH ROW EXECUTE FUNCTION statehub.tg__timestamps()', t);
    EXECUTE format('COMMENT ON TRIGGER _100_timestamps ON statehub.%I IS %L', t,
                   'Maintains created_at/updated_at (statehub.tg__timestamps).');
  END LOOP;
END;
$$;
