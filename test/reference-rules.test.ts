// Cross-references the database checks against each other (migrations/0003, sql/125), for
// every writer: each rule is tried through the API (409 naming the rule) and in plain SQL.
import { expect } from 'chai';
import { capturingLogger } from './helpers/log.ts';
import type { RunningApi } from '../src/api/server.ts';
import { createDb, type Db } from '../src/db.ts';
import { silentLogger } from '../src/logger.ts';
import { migrate } from '../src/migrate.ts';
import { createTestDatabase, useTestDatabase } from './helpers/database.ts';
import { startTestApi, type Client, type Reply } from './helpers/http.ts';

function expectConflict(r: Reply, rule: RegExp) {
  expect(r.status, JSON.stringify(r.body)).to.equal(409);
  expect(r.body.detail).to.match(rule);
  expect(JSON.stringify(r.body)).not.to.match(/statehub\.|constraint|SELECT/);
}

async function sqlError(p: Promise<unknown>): Promise<{ code?: string; constraint?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; constraint?: string; message: string };
  }
  throw new Error('the statement succeeded');
}

/**
 * A new database migrated up to migration `count`, for `body`, with a pool on it and a function
 * that runs the remaining migrations and answers the warnings they logged; dropped afterwards.
 */
async function migratedUpTo(count: number, body: (db: Db, migrateRest: () => Promise<string>) => Promise<void>): Promise<void> {
  const tdb = await createTestDatabase({ migrated: false });
  const db = createDb({ connectionString: tdb.url, max: 2 }, silentLogger());
  try {
    await migrate(tdb.url, silentLogger(), 'up', count);
    await body(db, async () => {
      const { log, lines } = capturingLogger('warn');
      await migrate(tdb.url, log);
      return lines.join('');
    });
  } finally {
    await db.close();
    await tdb.drop();
  }
}

describe('reference rules enforced by PostgreSQL', function () {
  const t = useTestDatabase();
  let api: RunningApi;
  let c: Client;
  const ids: Record<string, number> = {};

  const post = async (path: string, body: unknown) => {
    const r = await c.post(path, body);
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    return r.body.id as number;
  };

  before(async () => {
    ({ api, client: c } = await startTestApi(t.db));
    await post('/domains', { slug: 'alpha', name: 'Alpha' });
    await post('/domains', { slug: 'beta', name: 'Beta' });
    ids.topic = await post('/topics', { slug: 'ref-topic', title: 'Topic' });
    ids.repoA = await post('/repos', { slug: 'repo-a', domain_slug: 'alpha' });
    ids.repoB = await post('/repos', { slug: 'repo-b', domain_slug: 'beta' });
    ids.goalAlpha = await post('/domain-goals', { domain_slug: 'alpha', title: 'Alpha goal' });
    ids.goalBeta = await post('/domain-goals', { domain_slug: 'beta', title: 'Beta goal' });
    ids.repoGoalA = await post('/repo-goals', { repo_slug: 'repo-a', title: 'Repo A goal', domain_goal_id: ids.goalAlpha });
    ids.repoGoalB = await post('/repo-goals', { repo_slug: 'repo-b', title: 'Repo B goal' });
    ids.ws1 = await post('/workstreams', { slug: 'ws-1', title: 'One', topic_id: ids.topic, repo_id: ids.repoA, repo_goal_id: ids.repoGoalA, status: 'active' });
    ids.ws2 = await post('/workstreams', { slug: 'ws-2', title: 'Two', topic_id: ids.topic, status: 'active' });
    ids.task1 = await post('/tasks', { workstream_id: ids.ws1, title: 'Task of one' });
  });
  after(async () => {
    await api?.close();
  });

  describe("a progress event's task belongs to the workstream it names", () => {
    it('refuses a task of another workstream (API 409, SQL 23503), accepts the right one or either alone', async () => {
      expectConflict(await c.post('/progress-events', { workstream_id: ids.ws2, task_id: ids.task1, message: 'x' }), /task must belong to the workstream/);
      const err = await sqlError(t.db.query('INSERT INTO statehub.progress_events (workstream_id, task_id, message) VALUES ($1, $2, $3)', [ids.ws2, ids.task1, 'x']));
      expect(err).to.include({ code: '23503', constraint: 'progress_events_task_in_workstream' });
      await post('/progress-events', { workstream_id: ids.ws1, task_id: ids.task1, message: 'right' });
      await post('/progress-events', { task_id: ids.task1, message: 'task only' });
      await post('/progress-events', { workstream_id: ids.ws2, message: 'workstream only' });
      // An unknown task is still reported as missing.
      expect((await c.post('/progress-events', { workstream_id: ids.ws1, task_id: 987654, message: 'x' })).status).to.be.oneOf([409, 422]);
    });

    it('refuses moving a task away from the workstream its progress events name', async () => {
      const err = await sqlError(t.db.query('UPDATE statehub.tasks SET workstream_id = $1 WHERE id = $2', [ids.ws2, ids.task1]));
      expect(err).to.include({ code: '23503', constraint: 'progress_events_task_in_workstream' });
    });
  });

  describe("a workstream's repo goal is a goal of its repo", () => {
    it('refuses a goal of another repo, and a goal without a repo (API 409)', async () => {
      expectConflict(
        await c.post('/workstreams', { slug: 'ws-x', title: 'X', topic_id: ids.topic, repo_id: ids.repoA, repo_goal_id: ids.repoGoalB }),
        /repo goal must be a goal of the workstream's repo/,
      );
      expectConflict(await c.post('/workstreams', { slug: 'ws-x', title: 'X', topic_id: ids.topic, repo_goal_id: ids.repoGoalA }), /repo goal must be a goal/);
      expectConflict(await c.patch(`/workstreams/${ids.ws1}`, { repo_id: ids.repoB }), /repo goal must be a goal/);
      expectConflict(await c.patch(`/workstreams/${ids.ws2}`, { repo_goal_id: ids.repoGoalA }), /repo goal must be a goal/);
      // Both moved together is fine.
      const moved = await c.patch(`/workstreams/${ids.ws2}`, { repo_id: ids.repoB, repo_goal_id: ids.repoGoalB });
      expect(moved.status, JSON.stringify(moved.body)).to.equal(200);
    });

    it('in SQL too, and a repo goal cannot move to another repo under its workstreams', async () => {
      const err = await sqlError(t.db.query('UPDATE statehub.workstreams SET repo_goal_id = $1 WHERE id = $2', [ids.repoGoalB, ids.ws1]));
      expect(err).to.include({ code: '23503', constraint: 'workstreams_repo_goal_of_repo' });
      const plain = await post('/repo-goals', { repo_slug: 'repo-a', title: 'Unlinked goal' });
      await post('/workstreams', { slug: 'ws-plain', title: 'Plain', topic_id: ids.topic, repo_id: ids.repoA, repo_goal_id: plain });
      const move = await sqlError(t.db.query('UPDATE statehub.repo_goals SET repo_id = $1 WHERE id = $2', [ids.repoB, plain]));
      expect(move).to.include({ code: '23503', constraint: 'workstreams_repo_goal_of_repo' });
    });
  });

  describe("a repo goal serves only a goal of its repo's domain", () => {
    it("refuses another domain's goal on create and on patch (API 409, SQL SH005)", async () => {
      expectConflict(await c.post('/repo-goals', { repo_slug: 'repo-a', title: 'Wrong', domain_goal_id: ids.goalBeta }), /only serve a goal of its repo's domain/);
      expectConflict(await c.patch(`/repo-goals/${ids.repoGoalB}`, { domain_goal_id: ids.goalAlpha }), /only serve a goal of its repo's domain/);
      const err = await sqlError(t.db.query('UPDATE statehub.repo_goals SET domain_goal_id = $1 WHERE id = $2', [ids.goalBeta, ids.repoGoalA]));
      expect(err).to.include({ code: 'SH005' });
      expect((await c.patch(`/repo-goals/${ids.repoGoalB}`, { domain_goal_id: ids.goalBeta })).status).to.equal(200);
    });

    it('refuses moving a repo, or a domain goal, out from under such a link', async () => {
      expectConflict(await c.patch('/repos/repo-a', { domain_slug: 'beta' }), /only serve a goal of its repo's domain/);
      const err = await sqlError(t.db.query('UPDATE statehub.domain_goals SET domain_id = (SELECT id FROM statehub.domains WHERE slug = $1) WHERE id = $2', ['beta', ids.goalAlpha]));
      expect(err).to.include({ code: 'SH005' });
      expect((await c.get('/repos/repo-a')).body.domain_slug).to.equal('alpha');
    });
  });

  describe('a finished workstream takes no new open task', () => {
    it('refuses a new task on a completed or cancelled workstream (API 409, SQL SH005)', async () => {
      const done = await post('/workstreams', { slug: 'ws-done', title: 'Done', topic_id: ids.topic, status: 'active' });
      const gone = await post('/workstreams', { slug: 'ws-gone', title: 'Gone', topic_id: ids.topic });
      expect((await c.patch(`/workstreams/${done}`, { status: 'completed' })).status).to.equal(200);
      expect((await c.patch(`/workstreams/${gone}`, { status: 'cancelled' })).status).to.equal(200);
      expectConflict(await c.post('/tasks', { workstream_id: done, title: 'Late' }), /completed workstream takes no new open tasks/);
      expectConflict(await c.post('/tasks', { workstream_id: gone, title: 'Late', status: 'in_progress' }), /cancelled workstream takes no new open tasks/);
      const err = await sqlError(t.db.query('INSERT INTO statehub.tasks (workstream_id, title) VALUES ($1, $2)', [done, 'Late']));
      expect(err).to.include({ code: 'SH005' });
      const open = await post('/tasks', { workstream_id: ids.ws2, title: 'Open elsewhere' });
      const moved = await sqlError(t.db.query('UPDATE statehub.tasks SET workstream_id = $1 WHERE id = $2', [done, open]));
      expect(moved).to.include({ code: 'SH005' });
    });

    it('a task inserted while its workstream completes is refused after the completion commits, or precedes it', async () => {
      const ws = await post('/workstreams', { slug: 'ws-race', title: 'Race', topic_id: ids.topic, status: 'active' });
      const a = await t.db.pool.connect();
      const b = await t.db.pool.connect();
      try {
        await a.query('BEGIN');
        await a.query(`UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1`, [ws]);
        // b's insert waits on the workstream row that a is completing...
        const insert = b.query('INSERT INTO statehub.tasks (workstream_id, title) VALUES ($1, $2)', [ws, 'Racing']).then(
          () => undefined,
          (e: { code?: string }) => e.code,
        );
        await new Promise((r) => setTimeout(r, 200));
        await a.query('COMMIT');
        // ...and then sees it completed.
        expect(await insert).to.equal('SH005');
      } finally {
        a.release();
        b.release();
      }
    });
  });

  it('migrating a database that holds rows breaking the rules succeeds, warns, checks new rows, and validates once repaired', async function () {
    this.timeout(60_000);
    await migratedUpTo(2, async (db, migrateRest) => {
      await db.query(`INSERT INTO statehub.topics (slug, title) VALUES ('t', 'T')`);
      await db.query(`INSERT INTO statehub.domains (slug, name) VALUES ('d', 'D')`);
      await db.query(`INSERT INTO statehub.repos (slug, domain_id) SELECT 'r', id FROM statehub.domains`);
      await db.query(`INSERT INTO statehub.repo_goals (repo_id, title) SELECT id, 'G' FROM statehub.repos`);
      const ws = async (slug: string, goal: boolean) =>
        (await db.query<{ id: number }>(
          `INSERT INTO statehub.workstreams (slug, title, topic_id, repo_goal_id) SELECT $1, $1, t.id, CASE WHEN $2 THEN g.id END
             FROM statehub.topics t, statehub.repo_goals g RETURNING id`, [slug, goal])).rows[0]!.id;
      const [one, two] = [await ws('one', true), await ws('two', false)];
      const task = (await db.query<{ id: number }>('INSERT INTO statehub.tasks (workstream_id, title) VALUES ($1, $2) RETURNING id', [one, 'T'])).rows[0]!.id;
      await db.query('INSERT INTO statehub.progress_events (workstream_id, task_id, message) VALUES ($1, $2, $3)', [two, task, 'mismatch']);

      const text = await migrateRest();
      expect(text).to.match(/progress_events_task_in_workstream/).and.match(/workstreams_repo_goal_needs_repo/);
      const validated = async () =>
        Object.fromEntries((await db.query<{ conname: string; convalidated: boolean }>(
          `SELECT conname, convalidated FROM pg_constraint WHERE conname IN
             ('progress_events_task_in_workstream', 'workstreams_repo_goal_needs_repo', 'workstreams_repo_goal_of_repo')`)).rows.map((r) => [r.conname, r.convalidated]));
      expect(await validated()).to.deep.equal({ progress_events_task_in_workstream: false, workstreams_repo_goal_needs_repo: false, workstreams_repo_goal_of_repo: true });
      // New rows are checked all the same.
      const err = await sqlError(db.query('INSERT INTO statehub.progress_events (workstream_id, task_id, message) VALUES ($1, $2, $3)', [two, task, 'again']));
      expect(err).to.include({ code: '23503' });

      // Repaired (the workstream names its goal's repo; the event is recreated right), they validate.
      await db.query('UPDATE statehub.workstreams w SET repo_id = g.repo_id FROM statehub.repo_goals g WHERE g.id = w.repo_goal_id');
      await db.query('ALTER TABLE statehub.progress_events DISABLE TRIGGER _200_append_only');
      await db.query('UPDATE statehub.progress_events SET workstream_id = $1 WHERE task_id = $2', [one, task]);
      await db.query('ALTER TABLE statehub.progress_events ENABLE TRIGGER _200_append_only');
      await db.query('ALTER TABLE statehub.workstreams VALIDATE CONSTRAINT workstreams_repo_goal_needs_repo');
      await db.query('ALTER TABLE statehub.progress_events VALIDATE CONSTRAINT progress_events_task_in_workstream');
      expect(Object.values(await validated())).to.deep.equal([true, true, true]);
    });
  });

  it('migration 0008 keeps notes that name no work, warns, and checks every new event', async function () {
    this.timeout(60_000);
    await migratedUpTo(7, async (db, migrateRest) => {
      await db.query(`INSERT INTO statehub.progress_events (message) VALUES ('about nothing')`);
      expect(await migrateRest()).to.match(/progress_events_names_work/);
      const validated = async () => (await db.query(`SELECT convalidated FROM pg_constraint WHERE conname = 'progress_events_names_work'`)).rows[0]!.convalidated;
      expect(await validated()).to.equal(false);
      expect(await sqlError(db.query(`INSERT INTO statehub.progress_events (message) VALUES ('again')`))).to.include({ code: '23514' });
      expect((await db.query('SELECT message FROM statehub.progress_events')).rows).to.deep.equal([{ message: 'about nothing' }]);
    });
  });
});
