-- Who may do what. Two NOLOGIN group roles; operators create login roles inside them
-- (docs/roles.md). A single superuser (the default dev setup) keeps working: it bypasses all
-- of this. The statements below are the whole current grant set: each apply first revokes
-- what the two roles hold, then grants again, so removing a line here removes the privilege.
--
--   statehub_api   reads, inserts and updates the hub's tables, never deletes (the API has no
--                  DELETE route); cannot write the outbox, so no API bug can forge or erase an
--                  event. Its writes still capture, because the capture functions are
--                  SECURITY DEFINER, owned by the migrating role. No TRUNCATE, REFERENCES or
--                  TRIGGER on anything.
--   statehub_pump  reads the outbox (never writes it: rows are immutable), appends batch rows,
--                  parks events and releases them (requeue, skip), sets the busy flag, prunes
--                  delivered rows through statehub.prune_outbox(), and reads how far the
--                  standbys have flushed through statehub.standbys_flushed().

-- Roles are cluster-wide: create them once, tolerate a concurrent creator.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['statehub_api', 'statehub_pump'] LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r);
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      -- Commenting on a role needs CREATEROLE too, so only the creator does it.
      EXECUTE format('COMMENT ON ROLE %I IS %L', r, CASE r
        WHEN 'statehub_api' THEN 'state-hub API: reads, inserts and updates hub tables; never deletes, never writes the outbox. Grant it to login roles.'
        ELSE 'state-hub pump: reads the outbox, writes delivery bookkeeping only. Grant it to login roles.' END);
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'role % does not exist and % may not create roles', r, current_user
          USING ERRCODE = '42501',
                HINT = format('as a superuser or CREATEROLE user run: CREATE ROLE %I NOLOGIN; then migrate again', r);
    END;
  END LOOP;
END;
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA statehub FROM PUBLIC, statehub_api, statehub_pump;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA statehub FROM PUBLIC, statehub_api, statehub_pump;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA statehub FROM statehub_api, statehub_pump;
GRANT USAGE ON SCHEMA statehub TO statehub_api, statehub_pump;

-- Functions are executable by PUBLIC by default. Take that away from the ones that act with
-- their owner's rights. Trigger functions are not checked when a trigger fires.
REVOKE EXECUTE ON FUNCTION
  statehub.tg_repos__capture_registered(),
  statehub.tg_workstreams__capture_completed(),
  statehub.tg_decisions__capture_resolved(),
  statehub.tg_domain_goals__capture_activated(),
  statehub.tg_outbox__wake_pump(),
  statehub.tg_repo_goals__check_domain_goal(),
  statehub.tg_repos__check_goal_links(),
  statehub.tg_domain_goals__check_repo_links(),
  statehub.tg_tasks__check_workstream_open(),
  statehub.cancel_stale_tasks(boolean, integer),
  statehub.prune_outbox(interval, bigint, integer),
  statehub.standbys_flushed(pg_lsn)
FROM PUBLIC;

-- statehub_api: the hub's tables and their identity sequences, and the consistency engine's
-- bookkeeping (workplan_*, migrations/0006), which it writes from the API (POST
-- /repos/:slug/sync) and from `statehub sync` with this role.
DO $$
DECLARE
  t text;
  seq text;
BEGIN
  FOREACH t IN ARRAY ARRAY['domains', 'domain_goals', 'repos', 'repo_goals', 'topics', 'workstreams', 'tasks', 'decisions',
                           'progress_events', 'workplan_workstreams', 'workplan_tasks'] LOOP
    -- A table of a later migration, when migrating one step at a time (migrate up --count).
    CONTINUE WHEN to_regclass(format('statehub.%I', t)) IS NULL;
    -- progress_events is append-only (sql/120), so UPDATE would only ever fail.
    EXECUTE format('GRANT SELECT, INSERT%s ON statehub.%I TO statehub_api',
                   CASE WHEN t = 'progress_events' THEN '' ELSE ', UPDATE' END, t);
    -- The workplan_* tables are keyed by the row they describe and have no sequence.
    SELECT pg_catalog.pg_get_serial_sequence(format('statehub.%I', t), a.attname) INTO seq
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = format('statehub.%I', t)::regclass AND a.attidentity <> '';
    IF seq IS NOT NULL THEN
      EXECUTE format('GRANT USAGE ON SEQUENCE %s TO statehub_api', seq);
    END IF;
  END LOOP;
END;
$$;
-- Read by the transition check (sql/120), which runs with the writer's rights.
GRANT SELECT ON statehub.status_transitions TO statehub_api;
GRANT SELECT ON statehub.stale_tasks TO statehub_api;
GRANT EXECUTE ON FUNCTION statehub.activate_domain_goal(bigint), statehub.cancel_stale_tasks(boolean, integer) TO statehub_api;

-- statehub_pump: reads the outbox; writes only the delivery bookkeeping (migrations/0007).
-- Batch rows are appended, never changed; parked rows change state (requeue, skip, publish).
GRANT SELECT ON statehub.outbox, statehub.outbox_pump_state TO statehub_pump;
GRANT EXECUTE ON FUNCTION statehub.prune_outbox(interval, bigint, integer) TO statehub_pump;
-- Which database it publishes from (message headers), and PUMP_WAIT_FOR_STANDBYS.
GRANT EXECUTE ON FUNCTION statehub.database_origin(), statehub.standbys_flushed(pg_lsn) TO statehub_pump;
DO $$
BEGIN
  -- Migrating one step at a time (migrate up --count) below 0007, the busy flag is still called
  -- draining and the delivery bookkeeping does not exist yet.
  IF to_regclass('statehub.outbox_batches') IS NULL THEN
    GRANT UPDATE (draining, updated_at) ON statehub.outbox_pump_state TO statehub_pump;
    RETURN;
  END IF;
  GRANT SELECT, INSERT ON statehub.outbox_batches TO statehub_pump;
  GRANT USAGE ON SEQUENCE statehub.outbox_batches_id_seq TO statehub_pump;
  GRANT SELECT, INSERT, UPDATE (state, error, skip_reason, stream, stream_seq, updated_at) ON statehub.outbox_parked TO statehub_pump;
  GRANT UPDATE (busy, updated_at) ON statehub.outbox_pump_state TO statehub_pump;
END;
$$;

-- Bearer tokens: the API checks one through statehub.authenticate_token() and reads nothing
-- else of statehub.api_tokens (no grant on the table). Tokens are created and revoked by the
-- migrating role.
REVOKE EXECUTE ON FUNCTION statehub.authenticate_token(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION statehub.authenticate_token(bytea) TO statehub_api;
