// Roles (sql/900_privileges.sql), pruning (sql/850) and the outbox's own invariants: the API
// role's writes capture but it cannot touch the outbox or delete anything; the pump role writes
// bookkeeping only; an oversize event fails the transition that produced it.
import { expect } from 'chai';
import { requeueFailed, skipFailed } from '../src/cli/tools/parked.ts';
import { pruneDelivered } from '../src/cli/tools/prune.ts';
import type { Queryable } from '../src/db.ts';
import { openDelta } from '../src/pump/delta.ts';
import { readPosition, recordBatch, setBusy } from '../src/pump/outbox.ts';
import { Progress } from '../src/pump/progress.ts';
import { useTestDatabase } from './helpers/database.ts';

const PRUNE_OUTBOX_SQL = 'SELECT events_deleted FROM statehub.prune_outbox($1::interval)';

describe('outbox privileges and invariants', () => {
  const t = useTestDatabase();
  let n = 0;
  let topicId: number;

  /** Runs `fn` in a transaction as `role` (SET LOCAL ROLE ends with the transaction). */
  const asRole = <T>(role: 'statehub_api' | 'statehub_pump', fn: (q: Queryable) => Promise<T>) =>
    t.db.tx(async (q) => {
      await q.query(`SET LOCAL ROLE ${role}`);
      return fn(q);
    });
  async function sqlState(p: Promise<unknown>): Promise<string | undefined> {
    return p.then(() => undefined, (e: { code?: string }) => e.code ?? 'no code');
  }
  const newWorkstream = async (q: Queryable = t.db) =>
    (await q.query<{ id: number }>("INSERT INTO statehub.workstreams (slug, title, topic_id, status) VALUES ($1, $1, $2, 'active') RETURNING id",
      [`ws-${++n}`, topicId])).rows[0]!.id;
  const eventsFor = async (workstreamId: number) =>
    (await t.db.query<{ id: number }>("SELECT id FROM statehub.outbox WHERE ordering_key = 'workstream:' || $1", [workstreamId])).rows;

  before(async () => {
    await t.db.query("INSERT INTO statehub.domains (slug, name) VALUES ('d', 'd')");
    topicId = (await t.db.query<{ id: number }>("INSERT INTO statehub.topics (slug, title) VALUES ('t', 't') RETURNING id")).rows[0]!.id;
  });

  it('roles — statehub_api and statehub_pump exist and cannot log in', async () => {
    const { rows } = await t.db.query("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('statehub_api', 'statehub_pump') ORDER BY 1");
    expect(rows).to.deep.equal([{ rolname: 'statehub_api', rolcanlogin: false }, { rolname: 'statehub_pump', rolcanlogin: false }]);
  });

  it('roles — the API role writes hub tables and its transitions capture events', async () => {
    const wsId = await asRole('statehub_api', async (q) => {
      const id = await newWorkstream(q);
      await q.query("UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1", [id]);
      await q.query('SELECT * FROM statehub.cancel_stale_tasks(true)');
      return id;
    });
    expect(await eventsFor(wsId)).to.have.length(1);
  });

  it('roles — the API role cannot insert, update or delete outbox rows or the pump state (42501)', async () => {
    const wsId = await newWorkstream();
    await t.db.query("UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1", [wsId]);
    const attempts = [
      "INSERT INTO statehub.outbox (subject, ordering_key, attributes) VALUES ('org.statehub.forged.event', 'x', '{}')",
      "UPDATE statehub.outbox SET attributes = '{}'",
      'DELETE FROM statehub.outbox',
      "INSERT INTO statehub.outbox_batches (snapshot, events, published, duplicates, parked) VALUES (pg_current_snapshot(), 0, 0, 0, 0)",
      "INSERT INTO statehub.outbox_parked (outbox_id, ordering_key, state, error) VALUES (1, 'x', 'failed', 'forged')",
      "UPDATE statehub.outbox_parked SET state = 'skipped', skip_reason = 'x'",
      'UPDATE statehub.outbox_pump_state SET busy = true',
      "SELECT statehub.prune_outbox('0')",
    ];
    for (const sql of attempts) expect(await sqlState(asRole('statehub_api', (q) => q.query(sql))), sql).to.equal('42501');
    expect(await eventsFor(wsId)).to.have.length(1);
  });

  it('roles — the API role cannot delete from any table of the schema (42501): the API never deletes', async () => {
    // From the catalog, so a table added later is covered without touching this test.
    const { rows } = await t.db.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'statehub' AND c.relkind IN ('r', 'p') ORDER BY 1`,
    );
    const tables = rows.map((r) => r.name);
    expect(tables).to.include.members(['statehub.workstreams', 'statehub.tasks', 'statehub.decisions', 'statehub.outbox']);
    // The privilege is checked before any row is looked at, so WHERE false deletes nothing even where it is allowed.
    for (const table of tables) {
      expect(await sqlState(asRole('statehub_api', (q) => q.query(`DELETE FROM ${table} WHERE false`))), table).to.equal('42501');
    }
  });

  it('roles — neither role holds DELETE, TRUNCATE, REFERENCES or TRIGGER on any table or view of the schema', async () => {
    const relations = 'pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace';
    const inSchema = "n.nspname = 'statehub' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')";
    const { rows: count } = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${relations} WHERE ${inSchema}`);
    expect(count[0]!.n, 'relations checked').to.be.above(10);
    const { rows } = await t.db.query(
      `SELECT r.role, c.relname, p.privilege
         FROM ${relations}
        CROSS JOIN unnest(ARRAY['statehub_api', 'statehub_pump']) AS r(role)
        CROSS JOIN unnest(ARRAY['DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(privilege)
        WHERE ${inSchema} AND has_table_privilege(r.role, c.oid, p.privilege)
        ORDER BY 1, 2, 3`,
    );
    expect(rows).to.deep.equal([]);
  });

  it('roles — the pump role reads the outbox and writes only the delivery bookkeeping and the busy flag', async () => {
    const wsId = await newWorkstream();
    await t.db.query("UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1", [wsId]);
    const [event] = await eventsFor(wsId);
    await asRole('statehub_pump', async (q) => {
      // What the pump does with a delta whose one event failed: park it and record the batch.
      const previous = await readPosition(q);
      const reader = await openDelta(q, previous.snapshot, 1000);
      if (!reader) throw new Error('expected a delta');
      const rows = (await reader.next())!;
      expect(rows.map((r) => r.id)).to.include(event!.id);
      const progress = new Progress(previous);
      for (const r of rows) progress.take(r.id, { parked: { id: r.id, key: r.ordering_key, state: 'failed', error: 'refused' } });
      progress.complete(reader.delta.snapshot);
      await recordBatch(q, progress.record);
      // What an operator does with the pump's login.
      expect((await requeueFailed(q, [event!.id])).changed).to.deep.equal([event!.id]);
      await q.query("UPDATE statehub.outbox_parked SET state = 'failed' WHERE outbox_id = $1", [event!.id]);
      expect((await skipFailed(q, [event!.id], 'test')).changed).to.deep.equal([event!.id]);
      await setBusy(q, true);
      await setBusy(q, false);
    });
    const { rows } = await t.db.query('SELECT state, skip_reason FROM statehub.outbox_parked WHERE outbox_id = $1', [event!.id]);
    expect(rows).to.deep.equal([{ state: 'skipped', skip_reason: 'test' }]);

    const refused = [
      "UPDATE statehub.outbox SET subject = 'org.statehub.other'",
      "UPDATE statehub.outbox SET attributes = '{}'",
      "UPDATE statehub.outbox SET ordering_key = 'x'",
      'UPDATE statehub.outbox SET event_id = gen_random_uuid()',
      "UPDATE statehub.outbox SET txid = '3'",
      "INSERT INTO statehub.outbox (subject, ordering_key, attributes) VALUES ('org.statehub.forged', 'x', '{}')",
      'DELETE FROM statehub.outbox',
      'UPDATE statehub.outbox_batches SET events = 0',
      'DELETE FROM statehub.outbox_batches',
      "UPDATE statehub.outbox_parked SET ordering_key = 'x'",
      'UPDATE statehub.outbox_parked SET outbox_id = 1',
      'DELETE FROM statehub.outbox_parked',
      "UPDATE statehub.workstreams SET title = 'pump'",
    ];
    for (const sql of refused) expect(await sqlState(asRole('statehub_pump', (q) => q.query(sql))), sql).to.equal('42501');
  });

  it('prune_outbox — refuses a negative age (22023)', async () => {
    expect(await sqlState(t.db.query(PRUNE_OUTBOX_SQL, ['-1 day']))).to.equal('22023');
  });

  it('outbox — an oversize event fails the business transaction that produced it', async () => {
    // A capture function for a made-up event whose attributes exceed the 64 KiB limit.
    await t.db.query(`CREATE FUNCTION public.tg_topics__capture_oversize() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO statehub.outbox (subject, ordering_key, attributes)
        VALUES ('org.statehub.topic.renamed', 'topic:' || NEW.id, jsonb_build_object('blob', repeat('x', 70000)));
        RETURN NULL;
      END $$`);
    await t.db.query(`CREATE TRIGGER _500_capture_oversize AFTER UPDATE ON statehub.topics
      FOR EACH ROW EXECUTE FUNCTION public.tg_topics__capture_oversize()`);
    try {
      const before = (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM statehub.outbox')).rows[0]!.n;
      const err = await t.db.query("UPDATE statehub.topics SET title = 'renamed' WHERE id = $1", [topicId]).catch((e: unknown) => e);
      expect(err).to.include({ code: '23514', constraint: 'outbox_attributes_max_64kib' });
      const { rows } = await t.db.query('SELECT title FROM statehub.topics WHERE id = $1', [topicId]);
      expect(rows).to.deep.equal([{ title: 't' }]);
      expect((await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM statehub.outbox')).rows[0]!.n).to.equal(before);
    } finally {
      await t.db.query('DROP TRIGGER _500_capture_oversize ON statehub.topics');
      await t.db.query('DROP FUNCTION public.tg_topics__capture_oversize()');
    }
  });
});

// Its own database: pruning stops at the first row younger than the age, so the rows here must
// be the only ones.
describe('outbox pruning', () => {
  const p = useTestDatabase();

  it('prune_outbox — deletes delivered events older than the age in bounded steps, never undelivered, failed or waiting ones', async () => {
    const insert = async (age: string) =>
      (
        await p.db.query<{ id: number }>(
          `INSERT INTO statehub.outbox (subject, ordering_key, attributes, occurred_at)
           VALUES ('org.statehub.workstream.completed', 'workstream:' || $1, '{}', now() - $1::interval) RETURNING id`,
          [age],
        )
      ).rows[0]!.id;
    const batch = (age: string) =>
      p.db.query(
        `INSERT INTO statehub.outbox_batches (previous_id, snapshot, events, published, duplicates, parked, finished_at)
         SELECT max(id), pg_current_snapshot(), 0, 0, 0, 0, now() - $1::interval FROM statehub.outbox_batches`,
        [age],
      );
    const old = [await insert('40 days'), await insert('40 days'), await insert('40 days')];
    const failed = await insert('40 days');
    const waiting = await insert('40 days');
    const skipped = await insert('40 days');
    const recent = await insert('1 day');
    await p.db.query(
      `INSERT INTO statehub.outbox_parked (outbox_id, ordering_key, state, error, skip_reason)
       VALUES ($1, 'k', 'failed', 'bad', NULL), ($2, 'k', 'waiting', NULL, NULL), ($3, 'j', 'skipped', 'bad', 'given up')`,
      [failed, waiting, skipped],
    );
    await batch('40 days');
    await batch('35 days');
    await batch('0 days'); // the pump's position: it has passed everything above
    const undelivered = await insert('40 days'); // committed after the position

    // Steps of two rows, so several calls.
    const result = await p.db.tx(async (q) => (await q.query('SET LOCAL ROLE statehub_pump'), pruneDelivered(q, 30 * 86_400_000, 2)));
    expect(result).to.deep.equal({ events: 4, batches: 2 }); // the 40- and 35-day batch rows
    const { rows: left } = await p.db.query<{ id: number }>('SELECT id FROM statehub.outbox ORDER BY id');
    expect(left.map((r) => r.id)).to.deep.equal([failed, waiting, recent, undelivered]);
    expect(old.every((id) => !left.some((r) => r.id === id))).to.equal(true);
    const { rows: parked } = await p.db.query('SELECT outbox_id FROM statehub.outbox_parked ORDER BY outbox_id');
    expect(parked.map((r) => r.outbox_id)).to.not.include(skipped);
    const { rows: batches } = await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM statehub.outbox_batches');
    expect(batches[0]!.n, 'the origin (made by the migration just now) and the newest are kept').to.equal(2);
    const { rows: pruneAll } = await p.db.query('SELECT * FROM statehub.prune_outbox($1::interval)', ['0']);
    expect(pruneAll[0]!.done).to.equal(true);
    expect((await readPosition(p.db)).batchId, 'the newest batch stays').to.be.a('number');
  });
});
