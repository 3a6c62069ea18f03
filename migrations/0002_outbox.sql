-- Up Migration
-- The transactional outbox. Capture triggers (sql/200_capture_*.sql) insert one row per event
-- in the transaction that made the transition, so an event exists exactly when its transition
-- committed. The pump reads pending rows and records delivery in the bookkeeping columns.

CREATE TABLE statehub.outbox (
  -- Capture order. Not a delivery cursor: ids are taken before commit, so a row may become
  -- visible after rows with higher ids. The pump always reads every pending row.
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The envelope id and JetStream Nats-Msg-Id. Generated at capture, never reused (unlike id,
  -- which restarts in a recreated database and would collide inside the duplicate window).
  -- Deliberately not indexed: a random uuid lands on a random index page, so such an index
  -- writes a full-page image per event after each checkpoint (a large share of capture's WAL in
  -- docs/benchmarks.md). Only capture's default writes it (no role may insert outbox rows
  -- directly), and 122 random bits do not collide.
  event_id     uuid NOT NULL DEFAULT gen_random_uuid(),
  subject      text NOT NULL CHECK (subject ~ '^org\.statehub(\.[a-z][a-z0-9_]*)+$'),
  -- Events with the same key are published in id order, e.g. 'workstream:42'.
  ordering_key text NOT NULL CHECK (length(ordering_key) BETWEEN 1 AND 200),
  -- The event's attributes as they were at capture; the pump reads no other table.
  attributes   jsonb NOT NULL,
  -- When the transition happened (its transaction's timestamp).
  occurred_at  timestamptz NOT NULL DEFAULT now(),

  -- Delivery bookkeeping, written by the pump only.
  attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error   text,
  published_at timestamptz,
  stream       text,
  stream_seq   bigint,
  failed_at    timestamptz,

  CONSTRAINT outbox_attributes_is_object CHECK (jsonb_typeof(attributes) = 'object'),
  -- Far above any real event; keeps one bad row from exceeding NATS's 1 MiB payload limit.
  CONSTRAINT outbox_attributes_max_64kib CHECK (octet_length(attributes::text) <= 65536),
  CONSTRAINT outbox_published_has_sequence CHECK (published_at IS NULL OR (stream IS NOT NULL AND stream_seq IS NOT NULL)),
  CONSTRAINT outbox_published_or_failed CHECK (published_at IS NULL OR failed_at IS NULL)
);
COMMENT ON TABLE statehub.outbox IS
  'Transactional outbox of lifecycle events: written by capture triggers, drained to NATS JetStream by the pump.';

-- Every index here is paid by every capturing transaction or by every publish, so there are
-- only those the pump and `statehub outbox` need (replay --since scans; it is rare).
-- What the pump reads: pending rows in capture order. Stays small because rows leave it on publish.
CREATE INDEX outbox_pending ON statehub.outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_failed ON statehub.outbox (id) WHERE failed_at IS NOT NULL;
CREATE INDEX outbox_published_at ON statehub.outbox (published_at) WHERE published_at IS NOT NULL;

-- One row: whether the pump is busy draining. While it is, capture skips NOTIFY (the pump is
-- polling anyway), so bursts do not serialize on NOTIFY's commit lock. See docs/capture.md.
CREATE TABLE statehub.outbox_pump_state (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  draining   boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO statehub.outbox_pump_state DEFAULT VALUES;
COMMENT ON TABLE statehub.outbox_pump_state IS
  'Single row set by the leading pump: draining = true while it polls the outbox without waiting for NOTIFY.';

-- Down Migration
-- Capture triggers write to the outbox; drop them with it (sql/ re-creates them on the next up).
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT tgname, tgrelid::regclass AS tbl FROM pg_trigger
            WHERE tgname LIKE '\_500\_capture\_%' AND NOT tgisinternal
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.tbl);
  END LOOP;
END;
$$;
DROP TABLE statehub.outbox_pump_state;
DROP TABLE statehub.outbox;
