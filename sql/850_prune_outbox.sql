-- Pruning: delivered events older than a given age leave the outbox, with the batch rows of
-- that age. Outbox rows are never updated, so pruning is the only thing that leaves dead tuples
-- there, and it works in bounded steps: one call looks at the next p_limit rows in id order (a
-- range of the primary key) and deletes those that are
--   * older than p_older_than (occurred_at),
--   * passed by the pump (visible in the newest batch's snapshot), and
--   * not parked as failed or waiting (an event still to be published keeps its row).
-- `statehub outbox prune` calls it repeatedly, each call its own transaction, until done:
--   SELECT * FROM statehub.prune_outbox('30 days');                -- the first step
--   SELECT * FROM statehub.prune_outbox('30 days', <last_id>);     -- the next one
-- The newest batch row is never deleted: it is the pump's position.
-- SECURITY DEFINER so the pump role (statehub_pump), which has no DELETE anywhere, can prune
-- without being able to delete an undelivered event.

DROP FUNCTION IF EXISTS statehub.prune_outbox(interval);

CREATE OR REPLACE FUNCTION statehub.prune_outbox(p_older_than interval, p_after bigint DEFAULT 0, p_limit integer DEFAULT 10000)
RETURNS TABLE (events_deleted bigint, batches_deleted bigint, last_id bigint, done boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_cutoff   timestamptz;
  v_position pg_snapshot;
  v_newest   bigint;
  v_seen     bigint;
  v_young    boolean;
BEGIN
  IF p_older_than IS NULL OR p_older_than < interval '0' THEN
    RAISE EXCEPTION 'prune_outbox needs an age of zero or more, got %', p_older_than USING ERRCODE = '22023';
  END IF;
  IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100000 THEN
    RAISE EXCEPTION 'prune_outbox needs a step of 1 to 100000 rows, got %', p_limit USING ERRCODE = '22023';
  END IF;
  v_cutoff := now() - p_older_than;
  SELECT b.id, b.snapshot INTO v_newest, v_position FROM statehub.outbox_batches b ORDER BY b.id DESC LIMIT 1;

  -- The window: the rows after p_after, oldest first, at most p_limit of them. Parked history
  -- (published or skipped) goes with its event.
  WITH win AS MATERIALIZED (
    SELECT o.id,
           o.occurred_at < v_cutoff AND v_position IS NOT NULL AND pg_visible_in_snapshot(o.txid, v_position)
             AND NOT EXISTS (SELECT 1 FROM statehub.outbox_parked p WHERE p.outbox_id = o.id AND p.state IN ('failed', 'waiting'))
             AS prunable,
           o.occurred_at >= v_cutoff AS young
      FROM statehub.outbox o
     WHERE o.id > coalesce(p_after, 0)
     ORDER BY o.id
     LIMIT p_limit
  ), parked_gone AS (
    DELETE FROM statehub.outbox_parked p USING win w WHERE p.outbox_id = w.id AND w.prunable
  ), gone AS (
    DELETE FROM statehub.outbox o USING win w WHERE o.id = w.id AND w.prunable RETURNING o.id
  )
  SELECT (SELECT count(*) FROM gone), count(*), max(w.id), coalesce(bool_or(w.young), false)
    INTO events_deleted, v_seen, last_id, v_young
    FROM win w;

  DELETE FROM statehub.outbox_batches b
   WHERE b.id IN (SELECT x.id FROM statehub.outbox_batches x
                   WHERE x.finished_at < v_cutoff AND x.id < v_newest ORDER BY x.id LIMIT p_limit);
  GET DIAGNOSTICS batches_deleted = ROW_COUNT;

  -- Done once the window reached rows younger than the age (ids follow capture time closely) or
  -- the end of the table, and no old batch row is left.
  done := (v_young OR v_seen < p_limit) AND batches_deleted < p_limit;
  last_id := coalesce(last_id, p_after);
  RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION statehub.prune_outbox(interval, bigint, integer) IS
  'One bounded step of pruning: deletes delivered outbox rows older than p_older_than among the p_limit rows after id p_after (never undelivered, failed or waiting ones), and old batch rows but the newest; call again from last_id until done.';
