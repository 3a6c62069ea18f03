// The wake-up contract between capture (sql/800_wake_pump.sql) and the pump. The SQL side
// writes these values as literals; test/capture.test.ts checks they agree. docs/capture.md
// describes the handshake.

/** LISTEN on this channel; the payload is always WAKE_PAYLOAD (a nudge, not an event). */
export const WAKE_CHANNEL = 'statehub_outbox';
export const WAKE_PAYLOAD = '';

/**
 * Advisory lock key (= hashtext('statehub.outbox.wake')). Writers hold it shared from the
 * moment they read `draining` until they commit. A pump that has set draining = false and
 * then obtains it exclusively knows every writer that skipped its NOTIFY has finished.
 */
export const WAKE_LOCK_KEY = 162289259;

/** Sets statehub.outbox_pump_state.draining ($1 boolean). Run it in its own, committed transaction. */
export const SET_DRAINING_SQL = 'UPDATE statehub.outbox_pump_state SET draining = $1, updated_at = now()';

/** Session-level try-lock (returns column `locked`); release with UNLOCK_WAKE_SQL on the same connection. */
export const TRY_LOCK_WAKE_SQL = `SELECT pg_try_advisory_lock(${WAKE_LOCK_KEY}) AS locked`;
export const UNLOCK_WAKE_SQL = `SELECT pg_advisory_unlock(${WAKE_LOCK_KEY})`;

/** Deletes published rows older than $1 (an interval such as '30 days'); returns column `deleted`. */
export const PRUNE_OUTBOX_SQL = 'SELECT statehub.prune_outbox($1::interval) AS deleted';
