import { expect } from 'chai';
import pg from 'pg';
import { silentLogger } from '../src/logger.ts';
import { migrate } from '../src/migrate.ts';
import { createTestDatabase, useTestDatabase } from './helpers/database.ts';

async function sqlError(p: Promise<unknown>): Promise<{ code: string; message: string; constraint?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string; constraint?: string };
  }
  throw new Error('expected the statement to fail');
}

describe('schema rules enforced by PostgreSQL (psql-level SQL)', function () {
  const t = useTestDatabase();
  let topicId: number;

  before(async () => {
    const { rows } = await t.db.query(`
      WITH d AS (INSERT INTO statehub.domains (slug, name) VALUES ('sql', 'SQL') RETURNING id)
      INSERT INTO statehub.topics (slug, title, domain_id) SELECT 'sql-topic', 'T', id FROM d RETURNING id`);
    topicId = rows[0]!.id;
  });

  const newWorkstream = async (slug: string, status = 'planned') =>
    (await t.db.query(`INSERT INTO statehub.workstreams (slug, title, topic_id, status) VALUES ($1, $1, $2, $3) RETURNING id`, [slug, topicId, status])).rows[0]!.id as number;

  it('refuses completed → planned with SQLSTATE SH001 and keeps the row', async () => {
    const id = await newWorkstream('w-done');
    await t.db.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1`, [id]);
    const err = await sqlError(t.db.query(`UPDATE statehub.workstreams SET status = 'planned' WHERE id = $1`, [id]));
    expect(err.code).to.equal('SH001');
    expect(err.message).to.equal('a workstream cannot go from completed to planned');
    const { rows } = await t.db.query('SELECT status, completed_at FROM statehub.workstreams WHERE id = $1', [id]);
    expect(rows[0]!.status).to.equal('completed');
    expect(rows[0]!.completed_at).to.be.instanceOf(Date);
  });

  it('refuses resolved → open for decisions and requires decider and rationale to resolve', async () => {
    const { rows } = await t.db.query(`INSERT INTO statehub.decisions (title) VALUES ('d') RETURNING id`);
    const id = rows[0]!.id;
    expect((await sqlError(t.db.query(`UPDATE statehub.decisions SET status = 'resolved' WHERE id = $1`, [id]))).code).to.equal('23514');
    await t.db.query(`UPDATE statehub.decisions SET status = 'resolved', decided_by = 'x', rationale = 'y' WHERE id = $1`, [id]);
    expect((await sqlError(t.db.query(`UPDATE statehub.decisions SET status = 'open' WHERE id = $1`, [id]))).code).to.equal('SH001');
  });

  it('refuses creating rows in a status they can only reach by a transition', async () => {
    expect((await sqlError(newWorkstream('w-born-done', 'completed'))).code).to.equal('SH001');
    const err = await sqlError(t.db.query(`INSERT INTO statehub.decisions (title, status, decided_by, rationale) VALUES ('d', 'resolved', 'a', 'b')`));
    expect(err.code).to.equal('SH001');
  });

  it('allows at most one active goal per domain (unique index), activate_domain_goal supersedes', async () => {
    const { rows } = await t.db.query(`
      INSERT INTO statehub.domain_goals (domain_id, title)
      SELECT id, g FROM statehub.domains, unnest(ARRAY['g1', 'g2']) g WHERE slug = 'sql' RETURNING id`);
    const [g1, g2] = rows.map((r) => r.id as number);
    await t.db.query(`UPDATE statehub.domain_goals SET status = 'active' WHERE id = $1`, [g1]);
    const err = await sqlError(t.db.query(`UPDATE statehub.domain_goals SET status = 'active' WHERE id = $1`, [g2]));
    expect(err.code).to.equal('23505');
    await t.db.query('SELECT * FROM statehub.activate_domain_goal($1)', [g2]);
    const after = await t.db.query('SELECT id, status, superseded_by FROM statehub.domain_goals WHERE id = ANY($1) ORDER BY id', [[g1, g2]]);
    expect(after.rows).to.deep.equal([
      { id: g1, status: 'superseded', superseded_by: g2 },
      { id: g2, status: 'active', superseded_by: null },
    ]);
    expect((await sqlError(t.db.query('SELECT * FROM statehub.activate_domain_goal(987654)'))).code).to.equal('SH004');
  });

  it('a progress event names its work: a workstream, a task or both (23514 progress_events_names_work)', async () => {
    const err = await sqlError(t.db.query(`INSERT INTO statehub.progress_events (message) VALUES ('about nothing')`));
    expect(err).to.include({ code: '23514', constraint: 'progress_events_names_work' });
    const ws = await newWorkstream('w-progress');
    const task = (await t.db.query('INSERT INTO statehub.tasks (workstream_id, title) VALUES ($1, $2) RETURNING id', [ws, 'T'])).rows[0]!.id as number;
    for (const [w, k] of [[ws, null], [null, task], [ws, task]]) {
      await t.db.query(`INSERT INTO statehub.progress_events (workstream_id, task_id, message) VALUES ($1, $2, 'fine')`, [w, k]);
    }
  });

  it('progress_events is append-only (SH002)', async () => {
    const ws = await newWorkstream('w-append-only');
    const { rows } = await t.db.query(`INSERT INTO statehub.progress_events (workstream_id, message) VALUES ($1, 'm') RETURNING id`, [ws]);
    expect((await sqlError(t.db.query(`UPDATE statehub.progress_events SET message = 'x' WHERE id = $1`, [rows[0]!.id]))).code).to.equal('SH002');
    expect((await sqlError(t.db.query(`DELETE FROM statehub.progress_events WHERE id = $1`, [rows[0]!.id]))).code).to.equal('SH002');
  });

  it('maintains updated_at and keeps created_at', async () => {
    const id = await newWorkstream('w-times');
    await t.db.query(`UPDATE statehub.workstreams SET created_at = '2000-01-01', title = 'renamed' WHERE id = $1`, [id]);
    const { rows } = await t.db.query('SELECT created_at, updated_at FROM statehub.workstreams WHERE id = $1', [id]);
    expect(rows[0]!.created_at.getUTCFullYear()).to.not.equal(2000);
    expect(rows[0]!.updated_at.getTime()).to.be.at.least(rows[0]!.created_at.getTime());
  });

  it('every status change the rules table lists is one the enum knows', async () => {
    const { rows } = await t.db.query(`
      SELECT entity, to_status FROM statehub.status_transitions s
       WHERE NOT EXISTS (
         SELECT 1 FROM pg_enum e JOIN pg_type ty ON ty.oid = e.enumtypid
          WHERE ty.typname = s.entity || '_status' AND e.enumlabel = s.to_status)`);
    expect(rows).to.deep.equal([]);
  });
});

describe('migrations', function () {
  this.timeout(60_000);

  it('up, up again (no-op), down all, up: the schema comes back whole', async () => {
    const tdb = await createTestDatabase({ migrated: false });
    const log = silentLogger();
    const client = new pg.Client({ connectionString: tdb.url });
    try {
      const first = await migrate(tdb.url, log);
      expect(first.migrations.length).to.be.greaterThan(0);
      expect(first.definitionsApplied).to.equal(true);
      const again = await migrate(tdb.url, log);
      expect(again).to.deep.equal({ migrations: [], definitionsApplied: false });

      await client.connect();
      const shape = async () =>
        (await client.query(`
          SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'statehub')::int AS tables,
                 (SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'statehub' AND NOT g.tgisinternal)::int AS triggers,
                 (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'statehub')::int AS functions`)).rows[0];
      const before = await shape();
      expect(before.tables).to.be.greaterThan(8);

      for (let i = 0; i < first.migrations.length; i++) await migrate(tdb.url, log, 'down');
      const gone = await client.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'statehub'`);
      expect(gone.rows[0]!.n).to.equal(0);

      const back = await migrate(tdb.url, log);
      expect(back.migrations).to.deep.equal(first.migrations);
      expect(back.definitionsApplied).to.equal(true);
      expect(await shape()).to.deep.equal(before);
    } finally {
      await client.end().catch(() => undefined);
      await tdb.drop();
    }
  });

  it('re-applies sql/ definitions after a partial down and up', async () => {
    const tdb = await createTestDatabase();
    const log = silentLogger();
    try {
      const down = await migrate(tdb.url, log, 'down');
      expect(down.migrations).to.have.length(1);
      const up = await migrate(tdb.url, log);
      expect(up.migrations).to.deep.equal(down.migrations);
      expect(up.definitionsApplied).to.equal(true);
    } finally {
      await tdb.drop();
    }
  });
});
