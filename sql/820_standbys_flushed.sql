-- How far the streaming standbys have flushed the WAL, for PUMP_WAIT_FOR_STANDBYS (docs/ha.md).
-- With asynchronous replication a primary commits before any standby has the transaction; if
-- it then crashes and a standby is promoted, that transaction never happened. An event the
-- pump published from it would be a ghost: on the stream, absent from the surviving database.
-- So a pump told to wait publishes a delta only once enough standbys report a flush_lsn at or
-- past the WAL position the delta was read at (the logical-decoding counterpart is PostgreSQL
-- 17's synchronized_standby_slots). This function counts them:
--   streaming  physical standbys streaming now (logical walsenders and base backups excluded;
--              a WAL archiver such as pg_receivewal streams too and counts: docs/ha.md);
--   confirmed  those of them that have flushed WAL up to p_lsn;
--   hidden     walsenders whose positions the function's owner may not see. pg_stat_replication
--              shows them only to superusers and members of pg_read_all_stats, so a function
--              owner without either sees every standby as hidden, and a pump would wait forever:
--              it reports them instead (grant pg_read_all_stats to the owner).
-- SECURITY DEFINER: the pump's role needs neither privilege, and sees only these three numbers.

CREATE OR REPLACE FUNCTION statehub.standbys_flushed(p_lsn pg_lsn, OUT streaming integer, OUT confirmed integer, OUT hidden integer)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
  SELECT count(*) FILTER (WHERE r.state = 'streaming')::integer,
         count(*) FILTER (WHERE r.state = 'streaming' AND r.flush_lsn >= p_lsn)::integer,
         count(*) FILTER (WHERE r.state IS NULL)::integer
    FROM pg_stat_replication r
   WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.active_pid = r.pid AND s.slot_type = 'logical')
$$;
COMMENT ON FUNCTION statehub.standbys_flushed(pg_lsn) IS
  'Physical standbys streaming now, those that have flushed WAL up to the position given, and walsenders hidden from the owner.';
