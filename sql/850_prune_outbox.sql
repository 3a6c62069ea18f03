-- Pruning: published events older than a given age leave the outbox. Rows still pending or
-- set aside as failed are never deleted here; an operator deals with those. The most recently
-- published row always stays, so `statehub outbox status` can still say when the pump last
-- published, however old that is.
--   SELECT statehub.prune_outbox('30 days');
-- SECURITY DEFINER so the pump role (statehub_pump), which has no DELETE on the outbox, can
-- prune without being able to delete an unpublished event.

CREATE OR REPLACE FUNCTION statehub.prune_outbox(p_older_than interval) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_deleted bigint;
BEGIN
  IF p_older_than IS NULL OR p_older_than < interval '0' THEN
    RAISE EXCEPTION 'prune_outbox needs an age of zero or more, got %', p_older_than
      USING ERRCODE = '22023';
  END IF;
  DELETE FROM statehub.outbox o
   WHERE o.published_at IS NOT NULL
     AND o.published_at < now() - p_older_than
     AND o.id IS DISTINCT FROM (SELECT n.id FROM statehub.outbox n WHERE n.published_at IS NOT NULL
                                 ORDER BY n.published_at DESC, n.id DESC LIMIT 1);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  RETURN v_deleted;
END;
$$;
COMMENT ON FUNCTION statehub.prune_outbox(interval) IS
  'Deletes outbox rows published more than p_older_than ago (never pending or failed ones, never the newest published); returns how many.';
