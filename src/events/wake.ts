// The wake-up contract between capture (sql/800_wake_pump.sql) and the pump. The SQL side
// writes these values as literals; test/catalog-sync.test.ts checks they agree. docs/capture.md
// describes the handshake.

/** LISTEN on this channel; the payload is always WAKE_PAYLOAD (a nudge, not an event). */
export const WAKE_CHANNEL = 'statehub_outbox';
export const WAKE_PAYLOAD = '';

/**
 * Advisory lock key (= hashtext('statehub.outbox.wake')). Writers hold it shared from the
 * moment they read `busy` until they commit. A pump that has set busy = false and
 * then obtains it exclusively knows every writer that skipped its NOTIFY has finished.
 */
export const WAKE_LOCK_KEY = 162289259;
