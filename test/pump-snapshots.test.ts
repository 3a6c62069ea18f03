// Snapshot deltas (migrations/0007): a long transaction is delivered in the delta in which it
// commits, exactly once and in order for its key, while everything else keeps flowing; and a
// database of the per-row bookkeeping moves to batches without losing or re-publishing anything.
import { expect } from 'chai';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { migrate } from '../src/migrate.ts';
import { startPump } from '../src/pump/index.ts';
import { eventStatus } from '../src/cli/tools/status.ts';
import { createDb, type Queryable } from '../src/db.ts';
import { createTestDatabase } from './helpers/database.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { allDelivered, countRows, insertWorkstreamRows, parkedRows, pendingCount, PUBLISHED, readStream, usePump, waitFor, workstreamAttributes } from './helpers/pump.ts';

describe('pump: snapshot deltas', function () {
  const f = usePump();

  it('a transaction that took a low id and commits after many deltas is published once, in order for its key, and holds nothing back', async function () {
    const insertOne = async (db: Queryable, key: string, n: number) =>
      (
        await db.query<{ id: number; event_id: string }>(
          `INSERT INTO statehub.outbox (subject, ordering_key, attributes) VALUES ('org.statehub.workstream.completed', $1, $2) RETURNING id, event_id`,
          [key, workstreamAttributes(n)],
        )
      ).rows[0]!;
    const before = await insertOne(f.db, 'workstream:long', 1);
    await waitFor('the first event of the key published', () => allDelivered(f.db), 10_000);

    const long = new pg.Client({ connectionString: f.url });
    await long.connect();
    let held: { id: number; event_id: string };
    try {
      await long.query('BEGIN');
      held = await insertOne(long, 'workstream:long', 2);
      // Twenty deltas of other keys go out while it stays open: nothing waits behind it.
      const inStream = async () => (await (await f.nc.jetstreamManager()).streams.info('ACTIVITY_EVENTS')).state.messages;
      const start = await inStream();
      for (let i = 0; i < 20; i++) {
        await insertWorkstreamRows(f.db, 10, 10, 100 + i * 10);
        await waitFor(`delta ${i + 1} published while the long transaction is open`, async () => (await inStream()) === start + 10 * (i + 1), 10_000, 5);
      }
      // ... and recorded as delivered (the pump records about once a second while busy).
      await waitFor('the 200 recorded', async () => (await countRows(f.db, `id > ${held.id} AND ${PUBLISHED}`)) === 200, 10_000);
      expect(await pendingCount(f.db), 'only the open transaction\'s row is left, and it is not visible yet').to.equal(0);
      await long.query('COMMIT');
    } finally {
      await long.end();
    }
    const after = await insertOne(f.db, 'workstream:long', 3);
    await waitFor('the long transaction and the next event published', () => allDelivered(f.db), 10_000);

    const stream = await readStream(f.nc);
    const ids = stream.map((m) => m.msgId);
    expect(ids.filter((id) => id === held!.event_id), 'published exactly once').to.have.length(1);
    const ofKey = [before.event_id, held!.event_id, after.event_id];
    expect(ids.filter((id) => ofKey.includes(id!)), 'order of its key').to.deep.equal(ofKey);
    expect(new Set(ids).size).to.equal(ids.length);
  });
});

describe('migrations/0007: from per-row bookkeeping to batches', function () {
  this.timeout(60_000);

  it('the origin snapshot lists the migrating transaction as running even when later ones committed first', async function () {
    const tdb = await createTestDatabase();
    const a = new pg.Client({ connectionString: tdb.url });
    const b = new pg.Client({ connectionString: tdb.url });
    await a.connect();
    await b.connect();
    try {
      await a.query('BEGIN');
      const me = (await a.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x;
      // A later transaction commits before the origin is taken: the snapshot's xmax passes `me`.
      await b.query('BEGIN');
      const later = (await b.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x;
      await b.query('COMMIT');
      expect(BigInt(later) > BigInt(me), 'a later transaction id').to.equal(true);
      const { rows } = await a.query<{ me: boolean; later: boolean }>(
        `SELECT pg_visible_in_snapshot($1::xid8, o) AS me, pg_visible_in_snapshot($2::xid8, o) AS later
           FROM statehub.outbox_origin_snapshot() AS o`,
        [me, later],
      );
      expect(rows[0], 'rows stamped with the migrating transaction\'s id stay undelivered').to.deep.equal({ me: false, later: true });
      await a.query('ROLLBACK');
    } finally {
      await a.end();
      await b.end();
      await tdb.drop();
    }
  });

  it('keeps pending rows pending, published rows published and failed rows failed (now blocking their key), down and up again', async function () {
    const tdb = await createTestDatabase({ migrated: false });
    const db = createDb({ connectionString: tdb.url, max: 2 }, silentLogger());
    const nats = await startNatsServer();
    try {
      await migrate(tdb.url, silentLogger(), 'up', 6);
      const insert = (key: string, n: number, state: 'pending' | 'published' | 'failed', seq?: number) =>
        db.query<{ id: number; event_id: string }>(
          `INSERT INTO statehub.outbox (subject, ordering_key, attributes, published_at, stream, stream_seq, failed_at, last_error, attempts)
           VALUES ('org.statehub.workstream.completed', $1, $2,
                   CASE WHEN $3 = 'published' THEN now() END, CASE WHEN $3 = 'published' THEN 'ACTIVITY_EVENTS' END, $4,
                   CASE WHEN $3 = 'failed' THEN now() END, CASE WHEN $3 = 'failed' THEN 'refused: too large' END, 1)
           RETURNING id, event_id`,
          [key, workstreamAttributes(n), state, seq ?? null],
        ).then((r) => r.rows[0]!);
      const published = [await insert('workstream:1', 1, 'published', 41), await insert('workstream:2', 2, 'published', 42)];
      const failed = await insert('workstream:3', 3, 'failed');
      const pending = await insert('workstream:4', 4, 'pending');
      const behindFailed = await insert('workstream:3', 5, 'pending');

      // A writer that got its transaction id before the migration and inserts its event while
      // the migration holds the outbox: its row must be pending afterwards, not counted delivered.
      const writer = new pg.Client({ connectionString: tdb.url });
      await writer.connect();
      let late: { id: number; event_id: string };
      try {
        await writer.query('BEGIN');
        await writer.query('SELECT pg_current_xact_id()'); // takes a transaction id now
        const migrating = migrate(tdb.url, silentLogger(), 'up', 1); // 0007 alone, so that down 1 below undoes it
        await new Promise((r) => setTimeout(r, 300)); // the migration is under way, holding the outbox
        late = (
          await writer.query<{ id: number; event_id: string }>(
            `INSERT INTO statehub.outbox (subject, ordering_key, attributes) VALUES ('org.statehub.workstream.completed', 'workstream:6', $1) RETURNING id, event_id`,
            [workstreamAttributes(6)],
          )
        ).rows[0]!;
        await writer.query('COMMIT');
        await migrating;
      } finally {
        await writer.end();
      }
      expect(await pendingCount(db), 'pending rows, and the late writer\'s, are the first delta').to.equal(3);
      expect((await eventStatus(db, late.event_id))?.state).to.equal('pending');
      const { rows: origin } = await db.query('SELECT previous_id, events, published, stream, first_seq, last_seq, first_id, last_id FROM statehub.outbox_batches');
      expect(origin).to.deep.equal([{ previous_id: null, events: 2, published: 2, stream: 'ACTIVITY_EVENTS', first_seq: 41, last_seq: 42, first_id: published[0]!.id, last_id: published[1]!.id }]);
      expect(await parkedRows(db)).to.deep.equal([{ outbox_id: failed.id, ordering_key: 'workstream:3', state: 'failed', error: 'refused: too large' }]);
      expect(await eventStatus(db, published[0]!.event_id)).to.include({ state: 'published', stream: 'ACTIVITY_EVENTS', first_seq: 41, last_seq: 42 });

      // Down restores the columns with the same states, and up again gives the same batches.
      await migrate(tdb.url, silentLogger(), 'down', 1);
      const { rows: legacy } = await db.query('SELECT id, published_at IS NOT NULL AS published, failed_at IS NOT NULL AS failed, last_error FROM statehub.outbox ORDER BY id');
      expect(legacy.map((r) => [r.id, r.published, r.failed])).to.deep.equal([
        [published[0]!.id, true, false],
        [published[1]!.id, true, false],
        [failed.id, false, true],
        [pending.id, false, false],
        [behindFailed.id, false, false],
        [late.id, false, false],
      ]);
      await migrate(tdb.url, silentLogger());
      expect(await pendingCount(db)).to.equal(3);

      // The new pump publishes the pending row, parks the one behind the failed event, and
      // publishes nothing that was published before.
      const pump = await startPump(loadConfig({ DATABASE_URL: tdb.url, NATS_URL: nats.url, PUMP_METRICS_PORT: '0' }), silentLogger());
      try {
        await waitFor('the first delta recorded', async () => (await pendingCount(db)) === 0, 10_000);
        const nc = await (await import('nats')).connect({ servers: nats.url });
        try {
          expect((await readStream(nc)).map((m) => m.msgId)).to.deep.equal([pending.event_id, late.event_id]);
        } finally {
          await nc.close();
        }
        expect((await parkedRows(db)).map((p) => [p.outbox_id, p.state])).to.deep.equal([
          [failed.id, 'failed'],
          [behindFailed.id, 'waiting'],
        ]);
      } finally {
        await pump.stop();
      }
    } finally {
      await db.close();
      await nats.close();
      await tdb.drop();
    }
  });
});
