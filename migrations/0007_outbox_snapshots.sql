-- Up Migration
-- Delivery without rewriting the outbox (as PgQ does it). Until now the pump marked every
-- published row (published_at, stream_seq, ...): a non-HOT UPDATE per event that wrote about
-- as much WAL again as capture did and left a dead tuple per event. From here on outbox rows
-- are immutable after capture, and delivery is recorded per batch:
--
--   * every row carries the id of the transaction that wrote it (txid);
--   * the pump takes a snapshot (pg_current_snapshot()) and publishes the events whose
--     transaction is visible in it and was not visible in the previous batch's snapshot;
--   * as events are acknowledged by JetStream (or parked, below) it inserts a row into
--     statehub.outbox_batches about once a second: the snapshot it reached, or how far through
--     a large delta it got. One row per second, not one UPDATE per event.
--
-- Events that cannot be published (invalid for the catalog, refused for good by JetStream) are
-- parked in statehub.outbox_parked, and so are the later events of their ordering key until an
-- operator requeues or skips the failed one: order per entity is the consumer's contract.
-- docs/capture.md describes the design; docs/operations.md the upgrade.
--
-- Stop every pump before running this (the old pump's UPDATEs fail once the columns are gone;
-- what it published but could not mark is published again and dropped by JetStream's duplicate
-- window). Existing rows keep their state: pending rows stay pending (they are the first delta),
-- published rows stay published (summarized in the origin batch), failed rows become parked.

ALTER TABLE statehub.outbox ADD COLUMN txid xid8;
-- Rows already delivered get FirstNormalTransactionId (3), which every snapshot sees as
-- committed long ago, so no delta ever contains them. Pending rows get this migration's own
-- transaction id, which the origin snapshot below lists as still running: the first delta after
-- this commit contains exactly them.
UPDATE statehub.outbox
   SET txid = CASE WHEN published_at IS NULL AND failed_at IS NULL THEN pg_current_xact_id() ELSE '3'::xid8 END;
ALTER TABLE statehub.outbox
  ALTER COLUMN txid SET DEFAULT pg_current_xact_id(),
  ALTER COLUMN txid SET NOT NULL;
COMMENT ON COLUMN statehub.outbox.txid IS
  'Top-level id of the capturing transaction (pg_current_xact_id()). A delta is the rows whose txid is visible in the new snapshot and not in the previous batch''s.';
-- Grows almost monotonically (transaction ids are handed out in order), so inserts land on the
-- right-most leaf like those of the primary key. A delta is a range of it plus a short IN list.
CREATE INDEX outbox_txid ON statehub.outbox (txid);

-- Delivery, one row per step the pump recorded (about once a second while it publishes).
CREATE TABLE statehub.outbox_batches (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The batch this delta started from. UNIQUE: two pumps that both believe they lead cannot both
  -- record a delta after the same batch; the second insert fails and that pump re-reads its position.
  previous_id   bigint UNIQUE,
  -- Every event whose txid is visible in this snapshot has been delivered (published or parked).
  snapshot      pg_snapshot NOT NULL,
  -- A delta recorded part way (a large one is recorded about once a second while it is
  -- published): of the events visible in next_snapshot and not in snapshot, those with an id up
  -- to through_id are delivered too. A pump resumes the delta from there.
  next_snapshot pg_snapshot,
  through_id    bigint,
  -- For finding the first batch that delivered a given txid (outbox status --event): snapshots
  -- only move forward, so snapshot_xmax never decreases from one batch to the next.
  snapshot_xmax xid8 GENERATED ALWAYS AS (pg_snapshot_xmax(snapshot)) STORED,
  events        integer NOT NULL CHECK (events >= 0),
  published     integer NOT NULL CHECK (published >= 0),
  -- PubAcks flagged duplicate: JetStream had the event already (a re-published delta).
  duplicates    integer NOT NULL CHECK (duplicates >= 0),
  parked        integer NOT NULL CHECK (parked >= 0),
  first_id      bigint,
  last_id       bigint,
  -- Where the PubAcks put the delta's messages: the stream and the lowest and highest sequence.
  -- Other publishers' messages to the same stream may sit between them.
  stream        text,
  first_seq     bigint,
  last_seq      bigint,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT outbox_batches_counts CHECK (published + parked <= events AND duplicates <= published),
  CONSTRAINT outbox_batches_partial CHECK ((next_snapshot IS NULL) = (through_id IS NULL)),
  CONSTRAINT outbox_batches_sequences CHECK ((stream IS NULL) = (first_seq IS NULL) AND (first_seq IS NULL) = (last_seq IS NULL))
);
CREATE INDEX outbox_batches_xmax ON statehub.outbox_batches (snapshot_xmax, id);
-- The few rows recorded part way, for the same question.
CREATE INDEX outbox_batches_partial ON statehub.outbox_batches (id) WHERE through_id IS NOT NULL;
COMMENT ON TABLE statehub.outbox_batches IS
  'Delivery bookkeeping: one row per delta the pump completed; the newest row''s snapshot is the pump''s position.';

-- Events taken out of the normal flow, and the events of their key held behind them.
CREATE TABLE statehub.outbox_parked (
  outbox_id     bigint PRIMARY KEY,
  ordering_key  text NOT NULL,
  --   failed     could not be published; blocks its key until requeued or skipped
  --   waiting    to be published by the pump, in id order per key: held behind a failed event
  --              of its key, or requeued
  --   published  published from here (stream, stream_seq); kept as history
  --   skipped    given up on by an operator (skip_reason); never published
  state         text NOT NULL CHECK (state IN ('failed', 'waiting', 'published', 'skipped')),
  -- Why it failed, the last time it did (kept when it is requeued or skipped).
  error         text CHECK (length(error) <= 2000),
  skip_reason   text CHECK (length(skip_reason) BETWEEN 1 AND 2000),
  stream        text,
  stream_seq    bigint,
  parked_at     timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT outbox_parked_failed_has_error CHECK (state <> 'failed' OR error IS NOT NULL),
  CONSTRAINT outbox_parked_skipped_has_reason CHECK ((state = 'skipped') = (skip_reason IS NOT NULL)),
  CONSTRAINT outbox_parked_published_has_sequence CHECK ((state = 'published') = (stream IS NOT NULL AND stream_seq IS NOT NULL))
);
-- What the pump asks on every page: is this key blocked? Only open rows, so it stays small.
CREATE INDEX outbox_parked_open ON statehub.outbox_parked (ordering_key, outbox_id) WHERE state IN ('failed', 'waiting');
COMMENT ON TABLE statehub.outbox_parked IS
  'Events the pump could not publish (failed) and the later events of their ordering key (waiting), until `statehub outbox requeue` or `skip`.';

-- A snapshot to start delivery from, inside the transaction that stamps the undelivered rows
-- with its own id: pg_current_snapshot() with this transaction, and every transaction id from
-- the snapshot's xmax up to this one, added to its running list. A transaction never sees itself
-- as running (and later ones may have committed, putting xmax above it), and transactions that
-- got their id after the snapshot's xmax was computed (a writer that updated a hub row and now
-- waits for this migration's lock on the outbox) are not in the list either: their rows,
-- inserted after this commits, must not count as delivered. Listing too many as running is
-- harmless (such rows are delivered once more), too few loses events. Also used to reset the
-- position after a logical restore (docs/operations.md).
CREATE FUNCTION statehub.outbox_origin_snapshot() RETURNS pg_snapshot
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('%s:%s:%s',
                least(pg_snapshot_xmin(s.snap), s.me),
                greatest(pg_snapshot_xmax(s.snap), (s.me::text::bigint + 1)::text::xid8),
                (SELECT string_agg(x::text, ',' ORDER BY x)
                   FROM (SELECT pg_snapshot_xip(s.snap)
                          UNION
                         SELECT s.me
                          UNION
                         SELECT g::text::xid8
                           FROM generate_series(pg_snapshot_xmax(s.snap)::text::bigint, s.me::text::bigint) AS g) AS r(x))
               )::pg_snapshot
    FROM (SELECT pg_current_snapshot() AS snap, pg_current_xact_id() AS me) AS s
$$;
COMMENT ON FUNCTION statehub.outbox_origin_snapshot() IS
  'pg_current_snapshot() with the calling transaction and every id from its xmax up to the caller''s listed as running: a position from which rows the caller stamps with its own id stay undelivered.';

-- The origin batch, from that snapshot. It summarizes the rows published before this migration.
INSERT INTO statehub.outbox_batches (snapshot, events, published, duplicates, parked, first_id, last_id,
                                     stream, first_seq, last_seq, started_at, finished_at)
SELECT statehub.outbox_origin_snapshot(),
       p.n, p.n, 0, 0, p.first_id, p.last_id,
       CASE WHEN p.streams = 1 THEN p.stream END,
       CASE WHEN p.streams = 1 THEN p.first_seq END,
       CASE WHEN p.streams = 1 THEN p.last_seq END,
       coalesce(p.first_at, now()), coalesce(p.last_at, now())
  FROM (SELECT count(*)::int AS n, min(id) AS first_id, max(id) AS last_id, count(DISTINCT stream) AS streams,
               min(stream) AS stream, min(stream_seq) AS first_seq, max(stream_seq) AS last_seq,
               min(published_at) AS first_at, max(published_at) AS last_at
          FROM statehub.outbox WHERE published_at IS NOT NULL) AS p;

-- Rows set aside by the old pump become failed parked events: they now block their key.
INSERT INTO statehub.outbox_parked (outbox_id, ordering_key, state, error, parked_at, updated_at)
SELECT id, ordering_key, 'failed', left(coalesce(last_error, 'set aside before the move to batch bookkeeping'), 2000), failed_at, failed_at
  FROM statehub.outbox WHERE failed_at IS NOT NULL;

ALTER TABLE statehub.outbox
  DROP CONSTRAINT outbox_published_has_sequence,
  DROP CONSTRAINT outbox_published_or_failed,
  DROP COLUMN attempts,
  DROP COLUMN last_error,
  DROP COLUMN published_at,
  DROP COLUMN stream,
  DROP COLUMN stream_seq,
  DROP COLUMN failed_at;
-- (The partial indexes on the dropped columns went with them.)
COMMENT ON TABLE statehub.outbox IS
  'Transactional outbox of lifecycle events: written by capture triggers, never updated; the pump records delivery in outbox_batches.';

-- "draining" read like the NATS client's drain() (which means shutdown) in the pump's code.
ALTER TABLE statehub.outbox_pump_state RENAME COLUMN draining TO busy;
COMMENT ON TABLE statehub.outbox_pump_state IS
  'Single row set by the leading pump: busy = true while it polls the outbox without waiting for NOTIFY.';
-- The wake-up trigger reads the renamed column; sql/800 re-creates it right after this migration.
-- Until then events are recorded without a NOTIFY, and the pump's poll finds them.
DROP TRIGGER IF EXISTS _900_wake_pump ON statehub.outbox;

-- Down Migration
-- Back to per-row bookkeeping. Every row that a batch delivered is marked published (with the
-- batch's stream and last sequence: the per-row sequence was never recorded), parked failed rows
-- become failed, everything else is pending.
DROP TRIGGER IF EXISTS _900_wake_pump ON statehub.outbox;
ALTER TABLE statehub.outbox_pump_state RENAME COLUMN busy TO draining;
ALTER TABLE statehub.outbox
  ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  ADD COLUMN last_error text,
  ADD COLUMN published_at timestamptz,
  ADD COLUMN stream text,
  ADD COLUMN stream_seq bigint,
  ADD COLUMN failed_at timestamptz;
UPDATE statehub.outbox o
   SET published_at = b.finished_at, stream = coalesce(b.stream, 'unknown'), stream_seq = coalesce(b.last_seq, 0), attempts = 1
  FROM (SELECT * FROM statehub.outbox_batches ORDER BY id DESC LIMIT 1) AS b
 WHERE pg_visible_in_snapshot(o.txid, b.snapshot);
-- Parked rows: published ones have their own sequence, waiting ones are pending again, failed
-- and skipped ones are failed.
UPDATE statehub.outbox o
   SET published_at = CASE WHEN p.state = 'published' THEN p.updated_at END,
       stream = p.stream, stream_seq = p.stream_seq,
       failed_at = CASE WHEN p.state IN ('failed', 'skipped') THEN p.updated_at END,
       last_error = coalesce(p.skip_reason, p.error)
  FROM statehub.outbox_parked p
 WHERE p.outbox_id = o.id;
ALTER TABLE statehub.outbox
  ADD CONSTRAINT outbox_published_has_sequence CHECK (published_at IS NULL OR (stream IS NOT NULL AND stream_seq IS NOT NULL)),
  ADD CONSTRAINT outbox_published_or_failed CHECK (published_at IS NULL OR failed_at IS NULL);
CREATE INDEX outbox_pending ON statehub.outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_failed ON statehub.outbox (id) WHERE failed_at IS NOT NULL;
CREATE INDEX outbox_published_at ON statehub.outbox (published_at) WHERE published_at IS NOT NULL;
DROP TABLE statehub.outbox_parked;
DROP TABLE statehub.outbox_batches;
DROP FUNCTION statehub.outbox_origin_snapshot();
ALTER TABLE statehub.outbox DROP COLUMN txid;
