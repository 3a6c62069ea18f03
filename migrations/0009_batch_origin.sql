-- Up Migration
-- Which database recorded each batch row: its system identifier (pg_control_system(), the same
-- on a primary and its physical standbys, new after initdb or a logical restore) and the
-- timeline its WAL was on (it grows by one at every promotion of a standby). The pump sends the
-- same two values as headers on every message (docs/ha.md), so a consumer can tell after a
-- failover which history an event belongs to. sql/810_database_origin.sql gives the columns
-- their defaults; rows recorded before this migration keep NULL: unknown.
ALTER TABLE statehub.outbox_batches
  ADD COLUMN db_system_id bigint,
  ADD COLUMN db_timeline integer;
COMMENT ON COLUMN statehub.outbox_batches.db_system_id IS
  'System identifier of the database that recorded the row (pg_control_system()); NULL before migration 0009.';
COMMENT ON COLUMN statehub.outbox_batches.db_timeline IS
  'WAL timeline of the database that recorded the row: one more after each promotion; NULL before migration 0009.';

-- Down Migration
ALTER TABLE statehub.outbox_batches DROP COLUMN db_system_id, DROP COLUMN db_timeline;
