-- Which database and which history the pump publishes from, for the headers of every message
-- (Statehub-Db-System, Statehub-Db-Timeline) and the batch rows (migrations/0009).
--   system_identifier  chosen by initdb; shared by a primary and its physical standbys, so it
--                      stays the same across a failover and changes after a logical restore.
--   timeline           of the WAL being written now: a promoted standby starts a new one. Read
--                      from the name of the current WAL segment, whose first 8 hex digits are
--                      the timeline; pg_control_checkpoint() would tell it only after the next
--                      checkpoint. Only on a primary: pg_walfile_name() refuses during recovery.

CREATE OR REPLACE FUNCTION statehub.database_origin(OUT system_identifier bigint, OUT timeline integer)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.system_identifier,
         ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::integer
    FROM pg_control_system() s
$$;
COMMENT ON FUNCTION statehub.database_origin() IS
  'The database''s system identifier and current WAL timeline: which history the pump publishes from.';

-- Every batch row says where it was recorded, whoever inserts it (the pump, an operator's reset).
-- Migrating one step at a time (migrate up --count) below 0009, the columns do not exist yet.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
              WHERE attrelid = to_regclass('statehub.outbox_batches') AND attname = 'db_timeline' AND NOT attisdropped) THEN
    ALTER TABLE statehub.outbox_batches
      ALTER COLUMN db_system_id SET DEFAULT (statehub.database_origin()).system_identifier,
      ALTER COLUMN db_timeline SET DEFAULT (statehub.database_origin()).timeline;
  END IF;
END;
$$;
