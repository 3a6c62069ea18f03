// The pump's wake-up (sql/800_wake_pump.sql): at most one NOTIFY per transaction, none
// while the pump is busy, and the advisory-lock handshake that makes skipping it safe.
// Notifications only leave on commit, so these tests commit and listen on their own client.
import { expect } from 'chai';
import pg from 'pg';
import { WAKE_CHANNEL, WAKE_LOCK_KEY, WAKE_PAYLOAD } from '../src/events/wake.ts';
import { setBusy as writeBusy, writersSettled } from '../src/pump/outbox.ts';
import type { Queryable } from '../src/db.ts';
import { useTestDatabase } from './helpers/database.ts';


describe('pump wake-up', () => {
  const clients: pg.Client[] = [];
  // Registered before useTestDatabase() so it runs first: the database is dropped WITH (FORCE).
  after(() => Promise.all(clients.map((c) => c.end())));
  const t = useTestDatabase();
  let listener: pg.Client;
  let received: pg.Notification[] = [];
  let n = 0;
  let topicId: number;

  async function connect(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: t.url });
    clients.push(c);
    await c.connect();
    return c;
  }
  /**
   * Notifications received on WAKE_CHANNEL for what `fn` committed. A marker notification sent
   * after it commits later, and PostgreSQL delivers notifications in commit order: once the
   * marker has arrived, everything `fn` caused has too. No waiting on a clock.
   */
  async function notificationsDuring(fn: () => Promise<unknown>): Promise<pg.Notification[]> {
    received = [];
    await fn();
    const marker = `marker-${++n}`;
    await t.db.query('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, marker]);
    const deadline = Date.now() + 10_000;
    while (!received.some((m) => m.payload === marker)) {
      if (Date.now() > deadline) throw new Error('the marker notification never arrived');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return received.filter((m) => m.payload !== marker);
  }
  const newWorkstream = async () =>
    (await t.db.query<{ id: number }>("INSERT INTO statehub.workstreams (slug, title, topic_id, status) VALUES ($1, $1, $2, 'active') RETURNING id",
      [`ws-${++n}`, topicId])).rows[0]!.id;
  const complete = (id: number, q: Queryable = t.db) =>
    q.query("UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1", [id]);
  const setBusy = (busy: boolean) => writeBusy(t.db, busy);
  const outboxCount = async (subject: string) =>
    (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM statehub.outbox WHERE subject = $1', [subject])).rows[0]!.n;

  before(async () => {
    await t.db.query("INSERT INTO statehub.domains (slug, name) VALUES ('d', 'd')");
    topicId = (await t.db.query<{ id: number }>("INSERT INTO statehub.topics (slug, title) VALUES ('t', 't') RETURNING id")).rows[0]!.id;
    listener = await connect();
    listener.on('notification', (msg) => {
      if (msg.channel === WAKE_CHANNEL) received.push(msg);
    });
    await listener.query(`LISTEN ${listener.escapeIdentifier(WAKE_CHANNEL)}`);
  });
  afterEach(() => setBusy(false));

  it('wake-up — a lone transition notifies an idle pump once, on the constant channel and payload', async () => {
    const id = await newWorkstream();
    const got = await notificationsDuring(() => complete(id));
    expect(got.map((m) => [m.channel, m.payload])).to.deep.equal([[WAKE_CHANNEL, WAKE_PAYLOAD]]);
  });

  it('wake-up — a rolled-back transition sends no notification', async () => {
    const id = await newWorkstream();
    const got = await notificationsDuring(() =>
      t.db.tx(async (q) => {
        await complete(id, q);
        throw new Error('roll back on purpose');
      }).catch(() => undefined));
    expect(got).to.deep.equal([]);
  });

  it('wake-up — a bulk transition of 10,000 rows in one statement records 10,000 events and sends one notification', async function () {
    this.timeout(120_000);
    await t.db.query(
      "INSERT INTO statehub.workstreams (slug, title, topic_id, status) SELECT 'bulk-' || i, 'bulk ' || i, $1, 'active' FROM generate_series(1, 10000) i",
      [topicId],
    );
    const before = await outboxCount('org.statehub.workstream.completed');
    const got = await notificationsDuring(() =>
      t.db.query("UPDATE statehub.workstreams SET status = 'completed' WHERE slug LIKE 'bulk-%'"));
    expect((await outboxCount('org.statehub.workstream.completed')) - before).to.equal(10_000);
    expect(got).to.have.length(1);
  });

  it('wake-up — no notification while the pump is busy, but the event is recorded', async () => {
    await setBusy(true);
    const id = await newWorkstream();
    const before = await outboxCount('org.statehub.workstream.completed');
    const got = await notificationsDuring(() => complete(id));
    expect(got).to.deep.equal([]);
    expect(await outboxCount('org.statehub.workstream.completed')).to.equal(before + 1);
  });

  it('wake-up — a REPEATABLE READ writer notifies even while the pump is busy (its snapshot may predate the switch)', async () => {
    await setBusy(true);
    const id = await newWorkstream();
    const writer = await connect();
    const got = await notificationsDuring(async () => {
      await writer.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await complete(id, writer);
      await writer.query('COMMIT');
    });
    expect(got).to.have.length(1);
  });

  it('wake-up — a writer holds the wake lock shared until it ends, so a pump going idle waits for it and then sees its event', async () => {
    const writer = await connect();
    const pump = await connect();
    // The pump's own check: can it take the wake lock exclusively?
    const locked = () => writersSettled(pump, WAKE_LOCK_KEY);
    const id = await newWorkstream();

    await setBusy(true);
    await writer.query('BEGIN');
    await complete(id, writer); // reads busy = true: no NOTIFY, lock kept
    await setBusy(false); // the pump is about to go idle
    expect(await locked()).to.equal(false);

    const got = await notificationsDuring(() => writer.query('COMMIT'));
    expect(got, 'the writer saw busy = true').to.deep.equal([]);
    expect(await locked()).to.equal(true);
    // With the lock, one last drain finds the event the writer did not announce.
    const { rows } = await pump.query("SELECT 1 FROM statehub.outbox WHERE attributes->>'workstream_id' = $1", [String(id)]);
    expect(rows).to.have.length(1);
  });
});
