// The stale-task rule (statehub.cancel_stale_tasks, sql/240) and its event, task.stale:
// only the rule's cancellations fire it, one event per task; a dry run changes nothing.
import { expect } from 'chai';
import { catalog } from '../src/events/catalog.ts';
import { main } from '../src/cli/main.ts';
import { useTestDatabase, waitForLockWait } from './helpers/database.ts';

interface Event {
  subject: string;
  ordering_key: string;
  attributes: Record<string, unknown>;
}

describe('task.stale and the stale-task rule', () => {
  const t = useTestDatabase();
  let n = 0;

  const insertId = async (sql: string, params: unknown[]) => (await t.db.query<{ id: number }>(sql, params)).rows[0]!.id;
  const newWorkstream = (topicId: number, status: string) =>
    insertId('INSERT INTO statehub.workstreams (slug, title, topic_id, status) VALUES ($1, $1, $2, $3) RETURNING id', [`ws-${++n}`, topicId, status]);
  const newTask = (workstreamId: number, status: string) =>
    insertId('INSERT INTO statehub.tasks (workstream_id, title, status) VALUES ($1, $2, $3) RETURNING id', [workstreamId, `task ${++n}`, status]);
  const finish = (workstreamId: number, status: 'completed' | 'cancelled') =>
    t.db.query('UPDATE statehub.workstreams SET status = $2 WHERE id = $1', [workstreamId, status]);
  const taskStatuses = async () =>
    (await t.db.query<{ id: number; status: string }>('SELECT id, status FROM statehub.tasks ORDER BY id')).rows;
  const lastOutboxId = async () => (await t.db.query<{ id: number }>('SELECT coalesce(max(id), 0) AS id FROM statehub.outbox')).rows[0]!.id;
  const eventsSince = async (id: number) =>
    (await t.db.query<Event & { id: number }>('SELECT subject, ordering_key, attributes FROM statehub.outbox WHERE id > $1 ORDER BY id', [id])).rows;

  let topicId: number;
  before(async () => {
    await t.db.query("INSERT INTO statehub.domains (slug, name) VALUES ('d', 'd')");
    topicId = await insertId("INSERT INTO statehub.topics (slug, title) VALUES ('t', 't') RETURNING id", []);
  });

  // Leaves no stale task behind, so each test starts from a clean slate.
  afterEach(() => t.db.query('SELECT statehub.cancel_stale_tasks()'));

  it('task.stale — cancelling a task by hand fires nothing', async () => {
    const ws = await newWorkstream(topicId, 'active');
    const task = await newTask(ws, 'todo');
    const mark = await lastOutboxId();
    await t.db.query("UPDATE statehub.tasks SET status = 'cancelled', status_reason = 'not needed' WHERE id = $1", [task]);
    expect(await eventsSince(mark)).to.deep.equal([]);
  });

  it('task.stale — the rule cancels every open task of finished workstreams and fires one event per task', async () => {
    const done = await newWorkstream(topicId, 'active');
    const dropped = await newWorkstream(topicId, 'planned');
    const live = await newWorkstream(topicId, 'active');
    const todo = await newTask(done, 'todo');
    const inProgress = await newTask(done, 'in_progress');
    const blocked = await newTask(dropped, 'blocked');
    const finished = await newTask(done, 'in_progress');
    await t.db.query("UPDATE statehub.tasks SET status = 'done' WHERE id = $1", [finished]);
    const liveTask = await newTask(live, 'todo');
    const mark = await lastOutboxId();
    await finish(done, 'completed');
    await finish(dropped, 'cancelled');

    const titles = new Map((await t.db.query<{ id: number; title: string }>('SELECT id, title FROM statehub.tasks')).rows.map((r) => [r.id, r.title]));
    const { rows } = await t.db.query('SELECT * FROM statehub.cancel_stale_tasks()');
    expect(rows).to.deep.equal([
      { task_id: todo, workstream_id: done, workstream_status: 'completed', task_title: titles.get(todo), task_status_before: 'todo' },
      { task_id: inProgress, workstream_id: done, workstream_status: 'completed', task_title: titles.get(inProgress), task_status_before: 'in_progress' },
      { task_id: blocked, workstream_id: dropped, workstream_status: 'cancelled', task_title: titles.get(blocked), task_status_before: 'blocked' },
    ]);

    const statuses = new Map((await taskStatuses()).map((r) => [r.id, r.status]));
    expect([todo, inProgress, blocked].map((id) => statuses.get(id))).to.deep.equal(['cancelled', 'cancelled', 'cancelled']);
    expect(statuses.get(finished)).to.equal('done');
    expect(statuses.get(liveTask)).to.equal('todo');
    const reason = await t.db.query<{ status_reason: string }>('SELECT status_reason FROM statehub.tasks WHERE id = $1', [blocked]);
    expect(reason.rows[0]!.status_reason).to.equal(`stale: workstream ${dropped} is cancelled`);

    // The completion comes first on its ordering key, then one task.stale per task.
    const events = await eventsSince(mark);
    expect(events.map((e) => [e.subject, e.ordering_key])).to.deep.equal([
      ['org.statehub.workstream.completed', `workstream:${done}`],
      ['org.statehub.task.stale', `workstream:${done}`],
      ['org.statehub.task.stale', `workstream:${done}`],
      ['org.statehub.task.stale', `workstream:${dropped}`],
    ]);
    const stale = events.slice(1).map((e) => catalog['org.statehub.task.stale'].parse(e.attributes));
    expect(stale).to.deep.equal(rows);
    expect(Object.keys(events[1]!.attributes).sort()).to.deep.equal(Object.keys(catalog['org.statehub.task.stale'].shape).sort());
  });

  it('task.stale — a dry run lists what would be cancelled and changes nothing', async () => {
    const ws = await newWorkstream(topicId, 'active');
    const a = await newTask(ws, 'todo');
    const b = await newTask(ws, 'blocked');
    await finish(ws, 'completed');
    const mark = await lastOutboxId();
    const before = await taskStatuses();

    const { rows } = await t.db.query('SELECT * FROM statehub.cancel_stale_tasks(true)');
    expect(rows.map((r) => [r.task_id, r.task_status_before])).to.deep.equal([[a, 'todo'], [b, 'blocked']]);
    expect(await taskStatuses()).to.deep.equal(before);
    expect(await eventsSince(mark)).to.deep.equal([]);
  });

  it('task.stale — a second run finds nothing and fires nothing', async () => {
    const ws = await newWorkstream(topicId, 'active');
    await newTask(ws, 'todo');
    await finish(ws, 'completed');
    await t.db.query('SELECT statehub.cancel_stale_tasks()');
    const mark = await lastOutboxId();
    expect((await t.db.query('SELECT * FROM statehub.cancel_stale_tasks()')).rows).to.deep.equal([]);
    expect(await eventsSince(mark)).to.deep.equal([]);
  });

  it('task.stale — not emitted when the transaction rolls back', async () => {
    const ws = await newWorkstream(topicId, 'active');
    const task = await newTask(ws, 'in_progress');
    await finish(ws, 'cancelled');
    const mark = await lastOutboxId();
    const rollback = new Error('roll back on purpose');
    const err = await t.db.tx(async (q) => {
      await q.query('SELECT statehub.cancel_stale_tasks()');
      throw rollback;
    }).catch((e: unknown) => e);
    expect(err).to.equal(rollback);
    expect(await eventsSince(mark)).to.deep.equal([]);
    expect((await taskStatuses()).find((r) => r.id === task)?.status).to.equal('in_progress');
  });

  /** A completed workstream with `count` open tasks; returns the task ids, lowest first. */
  async function staleTasks(count: number): Promise<number[]> {
    const ws = await newWorkstream(topicId, 'active');
    const { rows } = await t.db.query<{ id: number }>(
      "INSERT INTO statehub.tasks (workstream_id, title, status) SELECT $1, 'bulk ' || g, 'todo' FROM generate_series(1, $2) g RETURNING id",
      [ws, count],
    );
    await finish(ws, 'completed');
    return rows.map((r) => r.id).sort((a, b) => a - b);
  }

  it('task.stale — a run cancels at most p_limit tasks, lowest ids first; runs until none is left finish the rest', async () => {
    const ids = await staleTasks(25);
    const first = await t.db.query<{ task_id: number }>('SELECT * FROM statehub.cancel_stale_tasks(false, 10)');
    expect(first.rows.map((r) => r.task_id)).to.deep.equal(ids.slice(0, 10));
    expect((await t.db.query('SELECT * FROM statehub.cancel_stale_tasks(false, 10)')).rowCount).to.equal(10);
    expect((await t.db.query('SELECT * FROM statehub.cancel_stale_tasks(false, 10)')).rowCount).to.equal(5);
    expect((await t.db.query('SELECT * FROM statehub.cancel_stale_tasks(false, 10)')).rowCount).to.equal(0);
    const err = await t.db.query('SELECT * FROM statehub.cancel_stale_tasks(false, 0)').catch((e: unknown) => e);
    expect((err as { code?: string }).code).to.equal('22023');
  });

  it('task.stale — locks tasks in id order: a run waiting for the lowest holds none of the others', async () => {
    const ids = await staleTasks(20);
    // Rewrite the lower half so the table stores them after the upper half: heap order is no longer id order.
    await t.db.query("UPDATE statehub.tasks SET title = title || ' (moved)' WHERE id = ANY ($1)", [ids.slice(0, 10)]);
    const holder = await t.db.pool.connect();
    const other = await t.db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM statehub.tasks WHERE id = $1 FOR UPDATE', [ids[0]]);
      const run = t.db.query('SELECT * FROM statehub.cancel_stale_tasks()');
      await waitForLockWait(t.db, "query LIKE '%cancel_stale_tasks%'");
      // In id order the run is stuck at the first task and has locked nothing after it.
      const highest = await other.query('SELECT id FROM statehub.tasks WHERE id = $1 FOR UPDATE NOWAIT', [ids[19]]).catch((e: unknown) => e);
      expect((highest as { code?: string }).code, 'the highest task is still free').to.equal(undefined);
      await holder.query('ROLLBACK');
      expect((await run).rowCount).to.equal(20);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
      other.release();
    }
  });

  it('task.stale — four runs at once neither deadlock nor cancel a task twice', async () => {
    const ids = (await Promise.all([300, 300, 300, 300].map((c) => staleTasks(c)))).flat();
    const mark = await lastOutboxId();
    const runUntilNone = async () => {
      let cancelled = 0;
      for (;;) {
        const { rowCount } = await t.db.query('SELECT * FROM statehub.cancel_stale_tasks(false, 50)');
        if (!rowCount) return cancelled;
        cancelled += rowCount;
      }
    };
    const counts = await Promise.all([runUntilNone(), runUntilNone(), runUntilNone(), runUntilNone()]);
    expect(counts.reduce((a, b) => a + b, 0)).to.equal(ids.length);
    const events = await eventsSince(mark);
    expect(events).to.have.length(ids.length);
    expect(new Set(events.map((e) => e.attributes.task_id)).size).to.equal(ids.length);
    expect((await taskStatuses()).filter((r) => ids.includes(r.id)).every((r) => r.status === 'cancelled')).to.equal(true);
  });

  describe('statehub cleanup-stale-tasks', () => {
    async function cli(args: string[]): Promise<{ code: number; out: string }> {
      let out = '';
      const write = process.stdout.write;
      process.stdout.write = ((chunk: string | Uint8Array) => ((out += String(chunk)), true)) as typeof process.stdout.write;
      try {
        const code = await main(['cleanup-stale-tasks', ...args], { DATABASE_URL: t.url, LOG_LEVEL: 'error' });
        return { code, out };
      } finally {
        process.stdout.write = write;
      }
    }

    it('cleanup-stale-tasks — --dry-run prints what it would cancel, exits 0 and changes nothing', async () => {
      const ws = await newWorkstream(topicId, 'active');
      const task = await newTask(ws, 'todo');
      await finish(ws, 'completed');
      const { code, out } = await cli(['--dry-run']);
      expect(code).to.equal(0);
      expect(out).to.include(`would cancel task ${task}`).and.include('would cancel 1 stale task(s) (dry run');
      expect((await taskStatuses()).find((r) => r.id === task)?.status).to.equal('todo');
    });

    it('cleanup-stale-tasks — cancels, prints a summary and exits 0', async () => {
      const ws = await newWorkstream(topicId, 'active');
      const task = await newTask(ws, 'todo');
      await finish(ws, 'completed');
      const { code, out } = await cli([]);
      expect(code).to.equal(0);
      expect(out).to.include(`cancelled task ${task}`).and.include('cancelled 1 stale task(s)');
      expect((await taskStatuses()).find((r) => r.id === task)?.status).to.equal('cancelled');
    });
  });
});
