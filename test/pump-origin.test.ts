// The pump checks its delivery position against the database it reaches: at start, and after
// every reconnect, since a multi-host DATABASE_URL may bring it to another server without a
// restart. A position ahead of the database's transaction ids (a logical restore into another
// cluster) would make new events count as delivered without a word: the pump refuses it, and
// the reset docs/operations.md gives brings it back with what the old pump had not passed.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { connect, type NatsConnection } from 'nats';
import { loadConfig } from '../src/config.ts';
import type { Queryable } from '../src/db.ts';
import { silentLogger } from '../src/logger.ts';
import { PumpStartError, startPump, type PumpHandle } from '../src/pump/index.ts';
import { PositionAheadError } from '../src/pump/origin.ts';
import { useTestDatabase } from './helpers/database.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { allDelivered, delay, insertWorkstreamRows, readStream, STREAM, waitFor } from './helpers/pump.ts';

/** The SQL block under "After a logical restore" in docs/operations.md. */
function documentedReset(): string {
  const doc = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
  const sql = /^### After a logical restore\n[\s\S]*?```sql\n([\s\S]*?)```/m.exec(doc)?.[1];
  if (!sql) throw new Error('docs/operations.md has no SQL under "After a logical restore"');
  return sql;
}

/** Records a position 1,000,000 transaction ids ahead, as a restore from a busier cluster brings; returns its xmax. */
async function positionAhead(db: Queryable): Promise<bigint> {
  const { rows } = await db.query<{ x: string }>(`SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text AS x`);
  const x = BigInt(rows[0]!.x);
  await db.query(
    `INSERT INTO statehub.outbox_batches (previous_id, snapshot, events, published, duplicates, parked)
     SELECT max(id), ($1 || ':' || $1 || ':')::pg_snapshot, 0, 0, 0, 0 FROM statehub.outbox_batches`,
    [x.toString()],
  );
  return x;
}

describe('pump: a delivery position ahead of the database', function () {
  const t = useTestDatabase();
  let nats: NatsServer;
  let nc: NatsConnection;
  const pumps: PumpHandle[] = [];
  before(async function () {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
  });
  after(async function () {
    await Promise.all(pumps.map((p) => p.stop()));
    await nc?.close();
    await nats?.close();
  });
  afterEach(async function () {
    await Promise.all(pumps.splice(0).map((p) => p.stop()));
    await (await nc.jetstreamManager()).streams.delete(STREAM).catch(() => undefined);
    await t.db.query('TRUNCATE statehub.outbox, statehub.outbox_batches CASCADE');
    await t.db.query(`INSERT INTO statehub.outbox_batches (snapshot, events, published, duplicates, parked) VALUES (statehub.outbox_origin_snapshot(), 0, 0, 0, 0)`);
  });

  const start = () =>
    startPump(loadConfig({ DATABASE_URL: t.url, NATS_URL: nats.url, PUMP_METRICS_PORT: '0', PUMP_POLL_INTERVAL: '1m' }), silentLogger()).then((p) => {
      pumps.push(p);
      return p;
    });

  it('is refused at start; the documented reset publishes what the old pump had not passed, and what comes after', async function () {
    await insertWorkstreamRows(t.db, 4, 4);
    const x = await positionAhead(t.db);
    // As restored: two rows the old pump had passed (below the position), two it had not.
    await t.db.query(`UPDATE statehub.outbox SET txid = (CASE WHEN id % 2 = 1 THEN $1::bigint - 10 ELSE $1::bigint + 5 END)::text::xid8`, [x.toString()]);
    const { rows: notPassed } = await t.db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox WHERE id % 2 = 0 ORDER BY id');

    const refused = await start().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).to.be.instanceOf(PumpStartError);
    expect((refused as Error).message).to.include("is ahead of this database's transaction ids").and.include('docs/operations.md');

    await t.db.query(documentedReset());
    await start();
    await insertWorkstreamRows(t.db, 3, 3, 100);
    await waitFor('every event delivered', () => allDelivered(t.db), 20_000);
    const { rows: after } = await t.db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox WHERE id > 4 ORDER BY id');
    const published = (await readStream(nc)).map((m) => m.msgId);
    expect(published).to.have.members([...notPassed, ...after].map((r) => r.event_id));
  });

  it('stops a running pump when a reconnect finds it ahead, rather than take new events for delivered', async function () {
    const pump = await start();
    await insertWorkstreamRows(t.db, 3, 3);
    await waitFor('the first events delivered', () => allDelivered(t.db), 20_000);

    await positionAhead(t.db);
    await t.db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'statehub-pump%'`,
    );
    const closed = await Promise.race([pump.closed, delay(15_000).then(() => 'still running after 15 s')]);
    expect(closed).to.be.instanceOf(PositionAheadError);
    expect((closed as Error).message).to.include("is ahead of this database's transaction ids");
    expect((await readStream(nc)).length, 'nothing published after the first three').to.equal(3);
  });
});
