-- Activating a domain goal supersedes the domain's current active goal in the same
-- transaction. The API's POST /domain-goals/:id/activate calls this; psql users can too:
--   SELECT * FROM statehub.activate_domain_goal(42);

CREATE OR REPLACE FUNCTION statehub.activate_domain_goal(p_goal_id bigint)
RETURNS SETOF statehub.domain_goals
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_domain_id bigint;
BEGIN
  SELECT domain_id INTO v_domain_id FROM statehub.domain_goals WHERE id = p_goal_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'domain goal % does not exist', p_goal_id USING ERRCODE = 'SH004';
  END IF;

  -- Serialize activations within one domain so two concurrent calls cannot both supersede.
  PERFORM 1 FROM statehub.domains WHERE id = v_domain_id FOR UPDATE;

  -- Supersede first: the unique index allows one active goal per domain at any moment.
  UPDATE statehub.domain_goals
     SET status = 'superseded', superseded_by = p_goal_id
   WHERE domain_id = v_domain_id AND status = 'active' AND id <> p_goal_id;

  -- Activating an already active goal changes nothing and is not an error.
  UPDATE statehub.domain_goals SET status = 'active' WHERE id = p_goal_id AND status <> 'active';

  RETURN QUERY SELECT * FROM statehub.domain_goals WHERE id = p_goal_id;
END;
$$;
COMMENT ON FUNCTION statehub.activate_domain_goal(bigint) IS
  'Makes a goal its domain''s active goal, superseding the previous one (superseded_by = this goal). SH004 if unknown, SH001 if not draft/active.';
