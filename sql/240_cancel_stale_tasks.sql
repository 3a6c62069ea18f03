-- The stale-task rule and its event, org.statehub.task.stale.
-- A task that is still open (todo, in_progress, blocked) while its workstream is completed
-- or cancelled is stale. statehub.cancel_stale_tasks() cancels every such task, writes why
-- into status_reason, and records one task.stale event per task:
--   SELECT * FROM statehub.cancel_stale_tasks(true);   -- dry run: what would be cancelled
--   SELECT * FROM statehub.cancel_stale_tasks();       -- do it, 1000 tasks at a time; repeat until no row
-- `statehub cleanup-stale-tasks [--dry-run]` (and scripts/cleanup-stale-tasks.sh) call it.
--
-- Why the event is recorded here and not by a trigger on tasks: the event belongs to the
-- rule, not to the status change. A trigger would have to tell this cancellation from a hand
-- cancellation (which fires nothing) through some session flag that any psql user could set
-- and that would leak into later statements of the transaction. Writing the outbox rows in
-- the same statement that cancels the tasks needs no flag and keeps the rule in one place.

CREATE OR REPLACE VIEW statehub.stale_tasks AS
SELECT t.id            AS task_id,
       t.workstream_id,
       w.status::text  AS workstream_status,
       t.title         AS task_title,
       t.status::text  AS task_status_before
  FROM statehub.tasks t
  JOIN statehub.workstreams w ON w.id = t.workstream_id
 WHERE t.status IN ('todo', 'in_progress', 'blocked')
   AND w.status IN ('completed', 'cancelled');
COMMENT ON VIEW statehub.stale_tasks IS
  'Open tasks (todo, in_progress, blocked) of completed or cancelled workstreams: what statehub.cancel_stale_tasks() would cancel.';

-- Bounded and deadlock-free: a run cancels at most p_limit tasks, the lowest ids first, and
-- locks them in id order. Two runs at once (a cron run overlapping a manual one) therefore
-- queue behind each other instead of deadlocking, and a run's locks and transaction stay short.
-- Call it until it returns no row (`statehub cleanup-stale-tasks` does); p_limit NULL takes
-- every stale task in one transaction.
-- The old one-argument form is dropped: next to the new one, `cancel_stale_tasks(true)` would
-- be ambiguous.
DROP FUNCTION IF EXISTS statehub.cancel_stale_tasks(boolean);
CREATE OR REPLACE FUNCTION statehub.cancel_stale_tasks(p_dry_run boolean DEFAULT false, p_limit integer DEFAULT 1000)
RETURNS TABLE (task_id bigint, workstream_id bigint, workstream_status text, task_title text, task_status_before text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF p_limit < 1 THEN
    RAISE EXCEPTION 'p_limit must be at least 1 (or NULL for no bound), got %', p_limit USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_dry_run THEN
    RETURN QUERY SELECT s.* FROM statehub.stale_tasks s ORDER BY s.task_id;
    RETURN;
  END IF;

  RETURN QUERY
  WITH stale AS (
    -- Lock the tasks, in id order (the row locks are taken above the sort and the limit). One
    -- that changed status while we waited no longer matches the join (PostgreSQL re-checks it
    -- on the new row version) and is left for the next run.
    SELECT s.*
      FROM statehub.stale_tasks s
      JOIN statehub.tasks t ON t.id = s.task_id AND t.status::text = s.task_status_before
     ORDER BY t.id
     LIMIT p_limit
       FOR UPDATE OF t
  ), cancelled AS (
    UPDATE statehub.tasks t
       SET status = 'cancelled',
           status_reason = format('stale: workstream %s is %s', s.workstream_id, s.workstream_status)
      FROM stale s
     WHERE t.id = s.task_id
    RETURNING s.*
  ), recorded AS (
    INSERT INTO statehub.outbox (subject, ordering_key, attributes)
    SELECT 'org.statehub.task.stale',
           -- Same key as workstream.completed: consumers see the completion first.
           'workstream:' || c.workstream_id,
           jsonb_build_object(
             'task_id', c.task_id,
             'workstream_id', c.workstream_id,
             'workstream_status', c.workstream_status,
             'task_title', c.task_title,
             'task_status_before', c.task_status_before)
      FROM cancelled c
     ORDER BY c.task_id
  )
  SELECT c.* FROM cancelled c ORDER BY c.task_id;
END;
$$;
COMMENT ON FUNCTION statehub.cancel_stale_tasks(boolean, integer) IS
  'Cancels up to p_limit (default 1000; NULL: all) open tasks of completed/cancelled workstreams, lowest ids first and locked in id order, records one org.statehub.task.stale each (ordering_key workstream:<id>) and returns them; p_dry_run = true only lists them all. Call until it returns no row.';
