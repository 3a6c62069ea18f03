// The consistency engine against a real database and real files: creating workstreams and
// tasks from a workplan file, re-syncing without writes, the events a sync fires, files gone
// and pruned, and one bad file not blocking the others.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { syncReport } from '../src/sync/report.ts';
import { useTestDatabase } from './helpers/database.ts';
import { useSyncRepos, workplanText } from './helpers/workplans.ts';

describe('consistency engine: sync of a repo', function () {
  const t = useTestDatabase();
  const repo = useSyncRepos(t);
  const rows = async (sql: string, params: unknown[] = []): Promise<any[]> => (await t.db.query(sql, params)).rows;
  const outboxCount = async () => Number((await rows('SELECT count(*) AS n FROM statehub.outbox'))[0].n);
  const hubTasks = (wsId: number) => rows('SELECT title, status FROM statehub.tasks WHERE workstream_id = $1 ORDER BY id', [wsId]);

  it('creates the workstream and its tasks from a new file, with the statuses of the boxes', async function () {
    const r = await repo();
    r.write('CUST-WP-0040-events.md', workplanText({ id: 'CUST-WP-0040', title: 'NATS events', status: 'active', topic: r.topic, repo_goal: r.goalId }, [
      '- [x] T01 Write the event catalog',
      '- [/] T02 Capture transitions',
      '- [!] T03 Pump to JetStream',
      '- [ ] T04 Consumer contract',
      '- [-] T05 Dropped idea',
    ]));
    const report = await r.sync();
    expect(() => syncReport.strict().parse(report)).to.not.throw();
    expect(report.summary).to.deep.equal({ files: 1, created: 1, updated: 0, unchanged: 0, invalid: 0, conflicts: 0 });
    const [file] = report.files;
    expect(file).to.include({ path: 'workplans/CUST-WP-0040-events.md', workplan_id: 'CUST-WP-0040', outcome: 'created' });
    expect(file!.errors).to.deep.equal([]);
    const [ws] = await rows('SELECT id, slug, title, status, repo_id, repo_goal_id FROM statehub.workstreams WHERE slug = $1', ['cust-wp-0040']);
    expect(ws).to.include({ id: file!.workstream_id, title: 'NATS events', status: 'active', repo_id: r.repoId, repo_goal_id: r.goalId });
    expect(await hubTasks(ws.id)).to.deep.equal([
      { title: 'Write the event catalog', status: 'done' },
      { title: 'Capture transitions', status: 'in_progress' },
      { title: 'Pump to JetStream', status: 'blocked' },
      { title: 'Consumer contract', status: 'todo' },
      { title: 'Dropped idea', status: 'cancelled' },
    ]);
    expect(file!.changes).to.deep.include({ item: 'CUST-WP-0040 T01', change: 'updated', field: 'status', from: 'todo', to: 'done' });
    expect(file!.changes).to.deep.include({ item: 'CUST-WP-0040', change: 'created' });
  });

  it('re-syncing an unchanged file changes nothing: no row is written, no event fires', async function () {
    const r = await repo();
    r.write('ABC-1.md', workplanText({ title: 'Plan', status: 'active', topic: r.topic }, ['- [ ] T01 One', '- [x] T02 Two']));
    await r.sync();
    const snapshot = async () => [
      ...(await rows('SELECT xmin::text AS x, id FROM statehub.workstreams ORDER BY id')),
      ...(await rows('SELECT xmin::text AS x, id FROM statehub.tasks ORDER BY id')),
      ...(await rows('SELECT xmin::text AS x, workstream_id AS id FROM statehub.workplan_workstreams ORDER BY 2')),
      ...(await rows('SELECT xmin::text AS x, task_id AS id FROM statehub.workplan_tasks ORDER BY 2')),
    ];
    const rowsBefore = await snapshot();
    const events = await outboxCount();
    const again = await r.sync();
    expect(again.files.map((f) => f.outcome)).to.deep.equal(['unchanged']);
    expect(again.files[0]!.changes).to.deep.equal([]);
    expect(await snapshot(), 'no row got a new version').to.deep.equal(rowsBefore);
    expect(await outboxCount()).to.equal(events);
  });

  it('a file that completes its workstream fires org.statehub.workstream.completed once, and a re-sync fires nothing', async function () {
    const r = await repo();
    r.write('DONE-7.md', workplanText({ title: 'Finish', status: 'active', topic: r.topic }, ['- [/] T01 Work']));
    const { files } = await r.sync();
    const wsId = files[0]!.workstream_id!;
    const completed = () => rows(`SELECT attributes FROM statehub.outbox WHERE subject = 'org.statehub.workstream.completed' AND ordering_key = $1`, [`workstream:${wsId}`]);
    expect(await completed()).to.have.length(0);
    r.write('DONE-7.md', workplanText({ title: 'Finish', status: 'completed', topic: r.topic }, ['- [x] T01 Work']));
    const second = await r.sync();
    expect(second.files[0]!.outcome).to.equal('updated');
    expect(second.files[0]!.changes).to.deep.include({ item: 'DONE-7', change: 'updated', field: 'status', from: 'active', to: 'completed' });
    const events = await completed();
    expect(events).to.have.length(1);
    expect(events[0].attributes).to.include({ workstream_id: wsId });
    await r.sync();
    await r.sync();
    expect(await completed()).to.have.length(1);
  });

  it('a new file whose workstream is completed creates it, completes it (one event) and adds its done tasks first', async function () {
    const r = await repo();
    r.write('OLD-3.md', workplanText({ title: 'Old work', status: 'completed', topic: r.topic }, ['- [x] T01 Did it']));
    const { files } = await r.sync();
    expect(files[0]!.outcome).to.equal('created');
    const [ws] = await rows('SELECT status, completed_at FROM statehub.workstreams WHERE id = $1', [files[0]!.workstream_id]);
    expect(ws.status).to.equal('completed');
    expect(ws.completed_at).to.be.instanceOf(Date);
    expect(await hubTasks(files[0]!.workstream_id!)).to.deep.equal([{ title: 'Did it', status: 'done' }]);
    const counted = await rows(`SELECT count(*)::int AS n FROM statehub.outbox WHERE ordering_key = $1`, [`workstream:${files[0]!.workstream_id}`]);
    expect(counted[0]!.n).to.equal(1);
  });

  it('applies edited titles and boxes, and adds new task lines', async function () {
    const r = await repo();
    r.write('EDIT-1.md', workplanText({ title: 'First', status: 'planned', topic: r.topic }, ['- [ ] T01 Alpha']));
    const wsId = (await r.sync()).files[0]!.workstream_id!;
    r.write('EDIT-1.md', workplanText({ title: 'Second', status: 'active', topic: r.topic }, ['- [/] T01 Alpha prime', '- [ ] T02 Beta']));
    const report = await r.sync();
    expect(report.files[0]!.outcome).to.equal('updated');
    expect(report.files[0]!.changes).to.deep.equal([
      { item: 'EDIT-1', change: 'updated', field: 'title', from: 'First', to: 'Second' },
      { item: 'EDIT-1 T02', change: 'created' },
      { item: 'EDIT-1 T01', change: 'updated', field: 'title', from: 'Alpha', to: 'Alpha prime' },
      { item: 'EDIT-1 T01', change: 'updated', field: 'status', from: 'todo', to: 'in_progress' },
      { item: 'EDIT-1', change: 'updated', field: 'status', from: 'planned', to: 'active' },
    ]);
    expect(await hubTasks(wsId)).to.deep.equal([
      { title: 'Alpha prime', status: 'in_progress' },
      { title: 'Beta', status: 'todo' },
    ]);
    expect((await r.sync()).files[0]!.outcome).to.equal('unchanged');
  });

  it('reports tasks and workstreams gone from their file; prune cancels the open ones; API-made tasks are left alone', async function () {
    const r = await repo();
    r.write('GONE-1.md', workplanText({ title: 'Keeps', status: 'active', topic: r.topic }, ['- [ ] T01 Stays', '- [ ] T02 Goes', '- [x] T03 Done and goes']));
    r.write('GONE-2.md', workplanText({ title: 'Deleted file', status: 'active', topic: r.topic }, ['- [ ] T01 Whatever']));
    const first = await r.sync();
    const [keep, deleted] = first.files.map((f) => f.workstream_id!) as [number, number];
    await t.db.query("INSERT INTO statehub.tasks (workstream_id, title) VALUES ($1, 'made through the API')", [keep]);
    r.write('GONE-1.md', workplanText({ title: 'Keeps', status: 'active', topic: r.topic }, ['- [ ] T01 Stays']));
    r.remove('GONE-2.md');

    const dry = await r.sync();
    expect(dry.missing_from_file.map((m) => [m.item, m.status, m.pruned])).to.deep.equal([
      ['GONE-1 T02', 'todo', false],
      ['GONE-1 T03', 'done', false],
      ['GONE-2', 'active', false],
    ]);
    expect(dry.missing_from_file[2]).to.include({ path: 'workplans/GONE-2.md', workstream_id: deleted, task_id: null });

    const pruned = await r.sync({ prune: true });
    expect(pruned.missing_from_file.map((m) => [m.item, m.status, m.pruned])).to.deep.equal([
      ['GONE-1 T02', 'cancelled', true],
      ['GONE-1 T03', 'done', false],
      ['GONE-2', 'cancelled', true],
    ]);
    expect(pruned.files[0]!.changes).to.deep.equal([{ item: 'GONE-1 T02', change: 'pruned', field: 'status', from: 'todo', to: 'cancelled' }]);
    expect(await hubTasks(keep)).to.deep.equal([
      { title: 'Stays', status: 'todo' },
      { title: 'Goes', status: 'cancelled' },
      { title: 'Done and goes', status: 'done' },
      { title: 'made through the API', status: 'todo' },
    ]);
    expect((await rows('SELECT status FROM statehub.workstreams WHERE id = $1', [deleted]))[0].status).to.equal('cancelled');
    // Pruned once: a second prune changes nothing.
    const again = await r.sync({ prune: true });
    expect(again.files[0]!.outcome).to.equal('unchanged');
    expect(again.missing_from_file.every((m) => !m.pruned)).to.equal(true);
  });

  it('one invalid file is reported with its lines and does not keep the others from syncing', async function () {
    const r = await repo();
    r.write('BAD-1.md', workplanText({ title: 'Bad', status: 'doing', topic: r.topic }, ['- [?] T01 Unknown box']));
    r.write('GOOD-1.md', workplanText({ title: 'Good', topic: r.topic }, ['- [ ] T01 Fine']));
    r.write('NOTOPIC-1.md', workplanText({ title: 'Topic?', topic: 'no-such-topic' }));
    const report = await r.sync();
    expect(report.files.map((f) => [f.path, f.outcome])).to.deep.equal([
      ['workplans/BAD-1.md', 'invalid'],
      ['workplans/GOOD-1.md', 'created'],
      ['workplans/NOTOPIC-1.md', 'invalid'],
    ]);
    expect(report.files[0]!.errors).to.deep.equal([
      { line: 3, message: 'status must be one of planned, active, blocked, completed, cancelled' },
      { line: 9, message: 'unknown box [?]: use [ ] todo, [/] in progress, [!] blocked, [x] done or [-] cancelled' },
    ]);
    expect(report.files[2]!.errors).to.deep.equal([{ line: 3, message: 'topic no-such-topic does not exist' }]);
    expect(report.summary).to.include({ files: 3, created: 1, invalid: 2 });
  });

  it('an id declared by two files, or owned by another repo, makes the later file invalid', async function () {
    const a = await repo();
    const b = await repo(a.root);
    await t.db.query('INSERT INTO statehub.topics (slug, title) VALUES ($1, $1) ON CONFLICT DO NOTHING', [a.topic]);
    a.write('SAME-1-first.md', workplanText({ id: 'SAME-1', title: 'First', topic: a.topic }));
    a.write('SAME-1-second.md', workplanText({ id: 'SAME-1', title: 'Second', topic: a.topic }));
    const report = await a.sync();
    expect(report.files.map((f) => f.outcome)).to.deep.equal(['created', 'invalid']);
    expect(report.files[1]!.errors).to.deep.equal([{ line: 2, message: 'SAME-1 is also the id of workplans/SAME-1-first.md: each workplan needs its own id' }]);
    b.write('SAME-1.md', workplanText({ title: 'Elsewhere', topic: a.topic }));
    const other = await b.sync();
    expect(other.files[0]!.errors).to.deep.equal([{ line: 1, message: `SAME-1 is already the workstream of a workplan file in repo ${a.slug}` }]);
  });

  it('a file that cannot be read keeps its workstream: another file declaring the same id is invalid meanwhile', async function () {
    const r = await repo();
    r.write('OWN-1-z.md', workplanText({ id: 'OWN-1', title: 'The owner', topic: r.topic }));
    const wsId = (await r.sync()).files[0]!.workstream_id;
    writeFileSync(path.join(r.dir, 'workplans', 'OWN-1-z.md'), Buffer.from([0x2d, 0x2d, 0x2d, 0x0a, 0xff, 0x0a]));
    r.write('OWN-1-a.md', workplanText({ id: 'OWN-1', title: 'An impostor', topic: r.topic }));
    const report = await r.sync();
    expect(report.files.map((f) => [f.path, f.outcome])).to.deep.equal([['workplans/OWN-1-a.md', 'invalid'], ['workplans/OWN-1-z.md', 'invalid']]);
    expect(report.files[0]!.errors).to.deep.equal([{ line: 2, message: 'OWN-1 is also the id of workplans/OWN-1-z.md: each workplan needs its own id' }]);
    expect(await rows('SELECT w.title, s.path FROM statehub.workstreams w JOIN statehub.workplan_workstreams s ON s.workstream_id = w.id WHERE w.id = $1', [wsId])).to.deep.equal([
      { title: 'The owner', path: 'workplans/OWN-1-z.md' },
    ]);
  });

  it('a renamed file takes its workstream along; an API-made workstream without a repo is claimed by the file that declares it', async function () {
    const r = await repo();
    r.write('MOVE-1-old-name.md', workplanText({ id: 'MOVE-1', title: 'Moving', status: 'active', topic: r.topic }, ['- [ ] T01 Stay']));
    const wsId = (await r.sync()).files[0]!.workstream_id;
    r.remove('MOVE-1-old-name.md');
    r.write('MOVE-1-new-name.md', workplanText({ id: 'MOVE-1', title: 'Moving', status: 'active', topic: r.topic }, ['- [ ] T01 Stay']));
    const moved = await r.sync();
    expect(moved.files[0]).to.deep.include({ workstream_id: wsId, outcome: 'updated' });
    expect(moved.files[0]!.changes).to.deep.equal([{ item: 'MOVE-1', change: 'updated', field: 'file', from: 'workplans/MOVE-1-old-name.md', to: 'workplans/MOVE-1-new-name.md' }]);
    expect(moved.missing_from_file).to.deep.equal([]);

    const topic = (await rows('SELECT id FROM statehub.topics WHERE slug = $1', [r.topic]))[0].id;
    const api = (await rows("INSERT INTO statehub.workstreams (slug, title, topic_id, status) VALUES ('api-7', 'Made by hand', $1, 'active') RETURNING id", [topic]))[0].id;
    r.write('API-7.md', workplanText({ title: 'Made by hand', status: 'active', topic: r.topic }));
    const claimed = await r.sync();
    const file = claimed.files.find((f) => f.workplan_id === 'API-7')!;
    expect(file).to.deep.include({ workstream_id: api, outcome: 'updated' });
    expect(file.changes).to.deep.equal([{ item: 'API-7', change: 'updated', field: 'repo', from: null, to: r.slug }]);
    expect((await rows('SELECT repo_id FROM statehub.workstreams WHERE id = $1', [api]))[0].repo_id).to.equal(r.repoId);
  });

  it('prunes no workstream while the folder is missing or a file cannot say its id; a refused prune is reported', async function () {
    const r = await repo();
    r.write('KEEP-1-a.md', workplanText({ title: 'Kept', status: 'active', topic: r.topic }));
    r.write('KEEP-2.md', workplanText({ title: 'Refuses', status: 'active', topic: r.topic }));
    const [kept, refuses] = (await r.sync()).files.map((f) => f.workstream_id!) as [number, number];
    const status = async (id: number) => (await rows('SELECT status FROM statehub.workstreams WHERE id = $1', [id]))[0].status;

    // Renamed and broken at once: its id cannot be read, so nothing counts as gone.
    r.remove('KEEP-1-a.md');
    r.write('KEEP-1-b.md', '---\nid: [broken\n---\n');
    r.remove('KEEP-2.md');
    const broken = await r.sync({ prune: true });
    expect(broken.missing_from_file).to.deep.equal([]);
    expect([await status(kept), await status(refuses)]).to.deep.equal(['active', 'active']);

    // No workplans/ folder (a checkout being cloned): nothing counts as gone either.
    rmSync(path.join(r.dir, 'workplans'), { recursive: true });
    expect((await r.sync({ prune: true })).missing_from_file).to.deep.equal([]);
    expect(await status(kept)).to.equal('active');

    // Back with KEEP-1 only: KEEP-2 is gone, and the database refuses to cancel it.
    mkdirSync(path.join(r.dir, 'workplans'));
    r.write('KEEP-1-b.md', workplanText({ id: 'KEEP-1', title: 'Kept', status: 'active', topic: r.topic }));
    await t.db.query(`CREATE FUNCTION statehub.test_no_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'this workstream stays' USING ERRCODE = 'SH001'; END $$`);
    await t.db.query(`CREATE TRIGGER test_no_cancel BEFORE UPDATE OF status ON statehub.workstreams FOR EACH ROW
      WHEN (NEW.status = 'cancelled' AND NEW.slug = 'keep-2') EXECUTE FUNCTION statehub.test_no_cancel()`);
    try {
      const refused = await r.sync({ prune: true });
      expect(refused.missing_from_file).to.deep.equal([
        { item: 'KEEP-2', path: 'workplans/KEEP-2.md', workstream_id: refuses, task_id: null, status: 'active', pruned: false, prune_refused: 'the database refuses it: this workstream stays' },
      ]);
      expect(await status(refuses)).to.equal('active');
    } finally {
      await t.db.query('DROP TRIGGER test_no_cancel ON statehub.workstreams; DROP FUNCTION statehub.test_no_cancel()');
    }
  });
});
