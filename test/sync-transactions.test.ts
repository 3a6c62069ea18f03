// How a sync writes: a dry run leaves the database byte-identical and reports what the real
// run then does; each file has its own transaction; a refusal the engine could not foresee
// is a reported conflict that leaves the rest of the file applied; syncs of one repo run one
// at a time; and the API's database role is all a sync needs.
import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import pg from 'pg';
import { createDb } from '../src/db.ts';
import { silentLogger } from '../src/logger.ts';
import { migrate, MIGRATIONS_DIR } from '../src/migrate.ts';
import { runner } from 'node-pg-migrate';
import { syncRepo } from '../src/sync/engine.ts';
import { Turns } from '../src/sync/turns.ts';
import type { SyncReport } from '../src/sync/report.ts';
import { createTestDatabase, useTestDatabase } from './helpers/database.ts';
import { useSyncRepos, workplanText } from './helpers/workplans.ts';

describe('consistency engine: transactions, dry runs and concurrency', function () {
  const t = useTestDatabase();
  const repo = useSyncRepos(t);
  /** Every row of the database, sequences included, as pg_dump writes them (less its random \restrict key). */
  const dump = () =>
    execFileSync('pg_dump', ['--data-only', '--no-owner', t.url], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).replace(/^\\(un)?restrict .*$/gm, '');
  /** What a report says, without the ids a dry run cannot know. */
  const said = (r: SyncReport) => r.files.map(({ workstream_id, ...rest }) => rest);

  it('a dry run leaves the database byte-identical and reports exactly what the real sync then does', async function () {
    const r = await repo();
    r.write('DRY-1.md', workplanText({ title: 'Old', status: 'active', topic: r.topic }, ['- [ ] T01 Stays', '- [ ] T02 Goes']));
    r.write('DRY-2.md', workplanText({ title: 'Gone soon', status: 'planned', topic: r.topic }));
    await r.sync();
    r.write('DRY-1.md', workplanText({ title: 'New', status: 'completed', topic: r.topic, repo_goal: r.goalId }, ['- [x] T01 Stays', '- [x] T03 Added']));
    r.remove('DRY-2.md');
    r.write('DRY-3.md', workplanText({ title: 'Brand new', status: 'blocked', topic: r.topic }, ['- [!] T01 Waiting']));
    r.write('DRY-4.md', workplanText({ title: 'Bad', status: 'nope', topic: r.topic }));

    const before = dump();
    const dry = await r.sync({ dryRun: true, prune: true });
    expect(dump(), 'pg_dump --data-only after the dry run').to.equal(before);
    expect(dry.dry_run).to.equal(true);
    expect(dry.files.find((f) => f.path === 'workplans/DRY-3.md')!.workstream_id).to.equal(null);

    const real = await r.sync({ prune: true });
    expect(said(real)).to.deep.equal(said(dry));
    expect(real.missing_from_file).to.deep.equal(dry.missing_from_file);
    expect(real.summary).to.deep.equal(dry.summary);
    expect(real.summary).to.deep.equal({ files: 3, created: 1, updated: 1, unchanged: 0, invalid: 1, conflicts: 0 });
    expect(dump()).to.not.equal(before);
  });

  it('a refusal the plan did not foresee is a conflict for that item alone; the rest of the file is applied', async function () {
    const r = await repo();
    r.write('REF-1.md', workplanText({ title: 'Plan', status: 'active', topic: r.topic }, ['- [ ] T01 One', '- [ ] T02 Two']));
    const wsId = (await r.sync()).files[0]!.workstream_id!;
    // A rule of the database the engine knows nothing about: no task may be titled "forbidden".
    await t.db.query(`CREATE FUNCTION statehub.test_refuse_title() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'a task may not be called %', NEW.title USING ERRCODE = 'SH005'; END $$`);
    await t.db.query(`CREATE TRIGGER test_refuse_title BEFORE UPDATE OF title ON statehub.tasks
      FOR EACH ROW WHEN (NEW.title = 'forbidden') EXECUTE FUNCTION statehub.test_refuse_title()`);
    try {
      r.write('REF-1.md', workplanText({ title: 'Plan', status: 'active', topic: r.topic }, ['- [x] T01 forbidden', '- [x] T02 Two renamed', '- [ ] T03 New']));
      const { files } = await r.sync();
      expect(files[0]!.outcome).to.equal('conflict');
      expect(files[0]!.conflicts).to.deep.equal([
        { item: 'REF-1 T01', field: 'title', base: 'One', file: 'forbidden', hub: 'One', reason: 'the database refuses it: a task may not be called forbidden' },
      ]);
      expect(files[0]!.changes.map((c) => `${c.item} ${c.change} ${c.field ?? ''}`)).to.deep.equal([
        'REF-1 T03 created ',
        'REF-1 T02 updated title',
        'REF-1 T01 updated status',
        'REF-1 T02 updated status',
      ]);
      const tasks = await t.db.query('SELECT title, status FROM statehub.tasks WHERE workstream_id = $1 ORDER BY id', [wsId]);
      expect(tasks.rows).to.deep.equal([
        { title: 'One', status: 'done' },
        { title: 'Two renamed', status: 'done' },
        { title: 'New', status: 'todo' },
      ]);
      // The refused title keeps its base: the next sync reports the same conflict, and nothing else.
      const again = await r.sync();
      expect(again.files[0]!.conflicts.map((c) => c.item)).to.deep.equal(['REF-1 T01']);
      expect(again.files[0]!.changes).to.deep.equal([]);
    } finally {
      await t.db.query('DROP TRIGGER test_refuse_title ON statehub.tasks; DROP FUNCTION statehub.test_refuse_title()');
    }
  });

  it('each file is its own transaction: a failure in one file keeps what the files before it committed', async function () {
    const r = await repo();
    r.write('TX-1.md', workplanText({ title: 'First', topic: r.topic }));
    r.write('TX-2.md', workplanText({ title: 'boom', topic: r.topic }));
    await t.db.query(`CREATE FUNCTION statehub.test_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM 1 / 0; RETURN NEW; END $$`);
    await t.db.query(`CREATE TRIGGER test_boom BEFORE INSERT ON statehub.workstreams FOR EACH ROW WHEN (NEW.title = 'boom') EXECUTE FUNCTION statehub.test_boom()`);
    try {
      const err = await r.sync().then(() => undefined, (e: { code?: string }) => e);
      expect(err, 'a bug (division by zero) fails the sync').to.have.property('code', '22012');
      const { rows } = await t.db.query("SELECT slug FROM statehub.workstreams WHERE slug IN ('tx-1', 'tx-2')");
      expect(rows).to.deep.equal([{ slug: 'tx-1' }]);
    } finally {
      await t.db.query('DROP TRIGGER test_boom ON statehub.workstreams; DROP FUNCTION statehub.test_boom()');
    }
  });

  it('two syncs of one repo run one after the other; a sync that waits too long is refused', async function () {
    const r = await repo();
    for (let i = 1; i <= 20; i++) r.write(`CON-${i}.md`, workplanText({ title: `Plan ${i}`, status: 'active', topic: r.topic }, ['- [x] T01 a', '- [ ] T02 b']));
    const [a, b] = await Promise.all([r.sync(), r.sync()]);
    const outcomes = [a, b].map((x) => x.summary);
    expect(outcomes).to.have.deep.members([
      { files: 20, created: 20, updated: 0, unchanged: 0, invalid: 0, conflicts: 0 },
      { files: 20, created: 0, updated: 0, unchanged: 20, invalid: 0, conflicts: 0 },
    ]);
    const counts = await t.db.query('SELECT count(*)::int AS n FROM statehub.tasks t JOIN statehub.workstreams w ON w.id = t.workstream_id WHERE w.repo_id = $1', [r.repoId]);
    expect(counts.rows[0]!.n).to.equal(40);

    // While another session holds the repo's sync lock, a sync waits and writes nothing; it
    // goes on when the lock is released, and gives up after lockWaitMs.
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    const lock = (verb: 'lock' | 'unlock') => holder.query(`SELECT pg_advisory_${verb}(hashtextextended('statehub.sync:' || $1::text, 0))`, [r.repoId]);
    const created = async () => (await t.db.query("SELECT count(*)::int AS n FROM statehub.workstreams WHERE slug = 'con-21'")).rows[0]!.n;
    try {
      r.write('CON-21.md', workplanText({ title: 'Before the wait', topic: r.topic }));
      await lock('lock');
      const waiting = r.sync({ lockWaitMs: 5000 });
      await new Promise((done) => setTimeout(done, 400));
      expect(await created(), 'nothing written while the lock is held').to.equal(0);
      // A dry run takes no lock: it answers at once.
      expect((await r.sync({ dryRun: true, lockWaitMs: 0 })).summary.created).to.equal(1);
      // The waiting sync reads the files once it has the lock, so it applies what they say then.
      r.write('CON-21.md', workplanText({ title: 'Written during the wait', topic: r.topic }));
      await lock('unlock');
      expect((await waiting).summary.created).to.equal(1);
      expect(await created()).to.equal(1);
      expect((await t.db.query("SELECT title FROM statehub.workstreams WHERE slug = 'con-21'")).rows[0]!.title).to.equal('Written during the wait');

      await lock('lock');
      const started = Date.now();
      const err = await r.sync({ lockWaitMs: 300 }).then(() => undefined, (e: Error) => e);
      expect(err?.message).to.equal(`another sync of repo ${r.slug} is running; try again when it has finished`);
      expect(Date.now() - started).to.be.at.least(300);
    } finally {
      await holder.end();
    }
    expect((await r.sync()).summary.unchanged).to.equal(21);
  });

  it('a sync whose connection is killed fails with an error, and the process and the repo\'s lock survive it', async function () {
    const r = await repo();
    r.write('KILL-1.md', workplanText({ title: 'Killed', topic: r.topic }));
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(hashtextextended('statehub.sync:' || $1::text, 0))", [r.repoId]);
      const waiting = r.sync({ lockWaitMs: 10_000 }).then(() => 'done', (e: Error) => e);
      let pid: number | undefined;
      for (let i = 0; i < 50 && pid === undefined; i++) {
        await new Promise((done) => setTimeout(done, 50));
        const { rows } = await holder.query(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_try_advisory_lock%' AND pid <> pg_backend_pid()",
        );
        pid = rows[0]?.pid;
      }
      expect(pid, 'the waiting sync polls the lock on its own connection').to.be.a('number');
      await holder.query('SELECT pg_terminate_backend($1)', [pid]);
      const outcome = await waiting;
      expect(outcome).to.be.instanceOf(Error);
      await holder.query("SELECT pg_advisory_unlock(hashtextextended('statehub.sync:' || $1::text, 0))", [r.repoId]);
    } finally {
      await holder.end();
    }
    expect((await r.sync({ lockWaitMs: 500 })).summary.created).to.equal(1);
  });

  it('at most two syncs hold a connection at once; the others wait their turn, in order, until their deadline', async function () {
    const turns = new Turns(2);
    const late = () => new Error('late');
    const a = await turns.take(Date.now() + 1000, late);
    const b = await turns.take(Date.now() + 1000, late);
    const order: string[] = [];
    const c = turns.take(Date.now() + 1000, late).then((release) => (order.push('c'), release));
    const d = turns.take(Date.now() + 1000, late).then((release) => (order.push('d'), release));
    const e = turns.take(Date.now() + 50, late).then(() => 'e got a turn', (err: Error) => err.message);
    expect(await e).to.equal('late');
    a();
    a(); // releasing twice frees one turn only
    (await c)();
    b();
    (await d)();
    expect(order).to.deep.equal(['c', 'd']);
  });

  it('a migrate that died between a migration and sql/ still grants the API role the engine\'s tables on the next run', async function () {
    this.timeout(60_000);
    const tdb = await createTestDatabase({ migrated: false });
    try {
      await migrate(tdb.url, silentLogger(), 'up', 5);
      // The last migration committed, then the migrator died before applying sql/ again.
      await runner({ databaseUrl: tdb.url, dir: MIGRATIONS_DIR, direction: 'up', migrationsTable: 'pgmigrations', migrationsSchema: 'statehub_meta', log: () => undefined });
      const result = await migrate(tdb.url, silentLogger());
      expect(result.migrations).to.deep.equal([]);
      expect(result.definitionsApplied, 'sql/ is applied again over the new set of migrations').to.equal(true);
      expect((await migrate(tdb.url, silentLogger())).definitionsApplied, 'and only once').to.equal(false);
      const c = new pg.Client({ connectionString: tdb.url });
      await c.connect();
      try {
        const { rows } = await c.query(`SELECT has_table_privilege('statehub_api', 'statehub.workplan_tasks', 'INSERT') AS grant,
                                              EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '_100_timestamps' AND tgrelid = 'statehub.workplan_tasks'::regclass) AS timestamps`);
        expect(rows[0]).to.deep.equal({ grant: true, timestamps: true });
      } finally {
        await c.end();
      }
    } finally {
      await tdb.drop();
    }
  });

  it('runs with the API role alone (statehub_api), and its transitions capture events', async function () {
    const r = await repo();
    r.write('ROLE-1.md', workplanText({ title: 'As the API', status: 'active', topic: r.topic }, ['- [ ] T01 Task']));
    const url = new URL(t.url);
    url.searchParams.set('options', '-c role=statehub_api');
    const asApi = createDb({ connectionString: url.toString(), max: 2 }, silentLogger());
    try {
      expect((await asApi.query('SELECT current_user AS u')).rows[0]!.u).to.equal('statehub_api');
      const first = await syncRepo(asApi, r.settings, r.slug, { dryRun: false, prune: false });
      expect(first.files[0]!.outcome).to.equal('created');
      r.write('ROLE-1.md', workplanText({ title: 'As the API', status: 'completed', topic: r.topic }, ['- [x] T01 Task']));
      const second = await syncRepo(asApi, r.settings, r.slug, { dryRun: false, prune: true });
      expect(second.files[0]!.outcome).to.equal('updated');
      const events = await t.db.query("SELECT count(*)::int AS n FROM statehub.outbox WHERE ordering_key = 'workstream:' || $1", [first.files[0]!.workstream_id]);
      expect(events.rows[0]!.n).to.equal(1);
    } finally {
      await asApi.close();
    }
  });
});
