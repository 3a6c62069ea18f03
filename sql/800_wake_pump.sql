-- Waking the pump: a NOTIFY on channel statehub_outbox, sent at most once per transaction
-- and only when the pump is idle. The full design and the pump's side of the handshake are
-- in docs/capture.md; src/events/wake.ts exports the channel and the lock key below.
--
-- Why not NOTIFY on every event: a transaction that notified takes one cluster-wide lock
-- at commit and holds it across the WAL flush, so concurrent notifying commits serialize
-- (measured here: 0.40x the plain commit rate, against 0.81x for the outbox insert alone).
-- While the pump is busy (statehub.outbox_pump_state.busy) it polls anyway and the
-- notification is skipped.
--
-- The handshake: a writer reads busy only while holding the advisory lock 162289259 in
-- shared mode, which it keeps until its transaction ends (see below for one that cannot get it). A pump about to go idle sets
-- busy = false, then takes the same lock exclusively: once it has it, every writer that
-- read busy = true has committed or rolled back, and one more drain picks up its rows.
-- 162289259 = hashtext('statehub.outbox.wake'), written as a literal so it never depends on
-- the hash function of a PostgreSQL version.
--
-- Writers only *try* for the shared lock. The pump holds it exclusively for an instant, but an
-- advisory lock has no privileges: any login could hold it exclusively for as long as it likes,
-- and writers waiting for it would stall every transition. A writer that cannot have it at once
-- notifies, which is always safe.
--
-- Under REPEATABLE READ or SERIALIZABLE the writer would read busy from a snapshot that
-- may predate the pump's switch to idle, so such transactions always notify.

CREATE OR REPLACE FUNCTION statehub.tg_outbox__wake_pump() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT pg_try_advisory_xact_lock_shared(162289259)
     OR current_setting('transaction_isolation') <> 'read committed'
     OR NOT coalesce((SELECT s.busy FROM statehub.outbox_pump_state s), false) THEN
    -- Constant channel and payload: PostgreSQL folds identical notifications of one
    -- transaction into one, however many events it recorded.
    PERFORM pg_notify('statehub_outbox', '');
  END IF;
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION statehub.tg_outbox__wake_pump() IS
  'AFTER INSERT (statement) on outbox: tries for advisory lock 162289259 shared, then NOTIFY statehub_outbox unless it got it and the pump is busy. See docs/capture.md.';

DO $$
BEGIN
  -- Migrating one step at a time (migrate up --count) below migrations/0007, the flag is still
  -- called draining: no wake-up trigger then (the pump's poll finds the events).
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                  WHERE attrelid = 'statehub.outbox_pump_state'::regclass AND attname = 'busy' AND NOT attisdropped) THEN
    DROP TRIGGER IF EXISTS _900_wake_pump ON statehub.outbox;
    RETURN;
  END IF;
  CREATE OR REPLACE TRIGGER _900_wake_pump AFTER INSERT ON statehub.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION statehub.tg_outbox__wake_pump();
  COMMENT ON TRIGGER _900_wake_pump ON statehub.outbox IS
    'Wakes an idle pump after events are recorded (statehub.tg_outbox__wake_pump).';
END;
$$;
