// Capture of the four transition events by the triggers in sql/2*: each fires on its
// transition with exactly the catalog's attributes, and on nothing else. Everything here is
// plain SQL, as psql or a script would write it; the API adds nothing to capture.
import { expect } from 'chai';
import { catalog, toEnvelope, type Subject } from '../src/events/catalog.ts';
import type { Queryable } from '../src/db.ts';
import { useTestDatabase } from './helpers/database.ts';

interface OutboxRow {
  id: number;
  event_id: string;
  subject: string;
  ordering_key: string;
  attributes: Record<string, unknown>;
  occurred_at: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('event capture', () => {
  const t = useTestDatabase();
  let n = 0;
  const slug = (prefix: string) => `${prefix}-${++n}`;

  async function one<R extends object>(sql: string, params: unknown[] = [], q: Queryable = t.db): Promise<R> {
    const { rows } = await q.query(sql, params);
    expect(rows, sql).to.have.length(1);
    return rows[0] as R;
  }
  const insertId = async (sql: string, params: unknown[], q: Queryable = t.db) => (await one<{ id: number }>(sql, params, q)).id;

  async function lastOutboxId(): Promise<number> {
    return (await one<{ id: number }>('SELECT coalesce(max(id), 0) AS id FROM statehub.outbox')).id;
  }
  async function capturedSince(id: number): Promise<OutboxRow[]> {
    const { rows } = await t.db.query<OutboxRow & Record<string, unknown>>(
      'SELECT id, event_id, subject, ordering_key, attributes, occurred_at FROM statehub.outbox WHERE id > $1 ORDER BY id',
      [id],
    );
    return rows;
  }
  /** Runs `change` and returns the outbox rows it recorded. */
  async function capture(change: () => Promise<unknown>): Promise<OutboxRow[]> {
    const before = await lastOutboxId();
    await change();
    return capturedSince(before);
  }
  /** The one event recorded: catalog-valid, with exactly these attributes and this ordering key. */
  function expectEvent(rows: OutboxRow[], subject: Subject, orderingKey: string, attributes: Record<string, unknown>): OutboxRow {
    expect(rows.map((r) => r.subject)).to.deep.equal([subject]);
    const row = rows[0]!;
    expect(catalog[subject].safeParse(row.attributes).success, JSON.stringify(row.attributes)).to.equal(true);
    expect(row.attributes).to.deep.equal(attributes);
    expect(row.ordering_key).to.equal(orderingKey);
    expect(row.event_id).to.match(UUID);
    expect(toEnvelope(row).attributes).to.deep.equal(attributes);
    return row;
  }
  async function rolledBack(change: (q: Queryable) => Promise<unknown>): Promise<void> {
    const rollback = new Error('roll back on purpose');
    const err = await t.db.tx(async (q) => {
      await change(q);
      throw rollback;
    }).catch((e: unknown) => e);
    expect(err).to.equal(rollback);
  }

  /**
   * Runs `change` in a transaction without the foreign key from `table` to domains (as after a
   * restore that skipped it) and returns what it threw; the transaction always rolls back.
   */
  async function withoutDomainKey(table: string, change: (q: Queryable) => Promise<unknown>): Promise<unknown> {
    return t.db
      .tx(async (q) => {
        const { rows } = await q.query<{ conname: string }>(
          "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND confrelid = 'statehub.domains'::regclass AND contype = 'f'",
          [table],
        );
        expect(rows).to.have.length(1);
        await q.query(`ALTER TABLE ${table} DROP CONSTRAINT "${rows[0]!.conname}"`);
        await change(q);
        throw new Error('the change went through');
      })
      .catch((e: unknown) => e);
  }

  let domainId: number;
  let domainSlug: string;
  let topicId: number;
  before(async () => {
    domainSlug = slug('dom');
    domainId = await insertId('INSERT INTO statehub.domains (slug, name) VALUES ($1, $1) RETURNING id', [domainSlug]);
    topicId = await insertId('INSERT INTO statehub.topics (slug, title) VALUES ($1, $1) RETURNING id', [slug('topic')]);
  });

  const newWorkstream = (status = 'active', repoId: number | null = null, repoGoalId: number | null = null) =>
    insertId(
      'INSERT INTO statehub.workstreams (slug, title, topic_id, status, repo_id, repo_goal_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
      [slug('ws'), `Workstream ${n}`, topicId, status, repoId, repoGoalId],
    );
  const newRepo = (q: Queryable = t.db, remote: string | null = null, local: string | null = null) =>
    insertId('INSERT INTO statehub.repos (slug, domain_id, remote_url, local_path) VALUES ($1, $2, $3, $4) RETURNING id',
      [slug('repo'), domainId, remote, local], q);

  describe('repo.registered', () => {
    it('repo.registered — emitted on insert with the catalog attributes', async () => {
      let repoId = 0;
      const rows = await capture(async () => (repoId = await newRepo(t.db, 'git@example.org:a/b.git', '/srv/b')));
      const repo = await one<{ slug: string; registered_at: Date }>('SELECT slug, registered_at FROM statehub.repos WHERE id = $1', [repoId]);
      const row = expectEvent(rows, 'org.statehub.repo.registered', `repo:${repoId}`, {
        repo_id: repoId, repo_slug: repo.slug, domain_slug: domainSlug, remote_url: 'git@example.org:a/b.git', local_path: '/srv/b',
      });
      expect(row.occurred_at.getTime()).to.equal(repo.registered_at.getTime());
    });

    it('repo.registered — optional remote_url and local_path are present as null', async () => {
      let repoId = 0;
      const rows = await capture(async () => (repoId = await newRepo()));
      expect(rows[0]!.attributes).to.include({ repo_id: repoId, remote_url: null, local_path: null });
      expect(rows[0]!.attributes).to.have.all.keys('repo_id', 'repo_slug', 'domain_slug', 'remote_url', 'local_path');
    });

    it('repo.registered — not emitted when the transaction rolls back', async () => {
      expect(await capture(() => rolledBack((q) => newRepo(q)))).to.deep.equal([]);
    });

    it('repo.registered — a repo whose domain cannot be found is refused, not registered without its event', async () => {
      const err = await withoutDomainKey('statehub.repos', (q) =>
        q.query("INSERT INTO statehub.repos (slug, domain_id) VALUES ('orphan', 999999)"));
      expect(err).to.include({ code: '23503' });
      expect((err as Error).message).to.match(/domain 999999, which does not exist: its repo.registered event cannot be captured/);
    });

    it('repo.registered — not emitted when a registered repo is updated', async () => {
      const repoId = await newRepo();
      const rows = await capture(() => t.db.query("UPDATE statehub.repos SET local_path = '/elsewhere' WHERE id = $1", [repoId]));
      expect(rows).to.deep.equal([]);
    });
  });

  describe('workstream.completed', () => {
    const complete = (id: number, q: Queryable = t.db) =>
      q.query("UPDATE statehub.workstreams SET status = 'completed' WHERE id = $1", [id]);

    it('workstream.completed — emitted on the change to completed with the catalog attributes', async () => {
      const repoId = await newRepo();
      const repoGoalId = await insertId("INSERT INTO statehub.repo_goals (repo_id, title) VALUES ($1, 'goal') RETURNING id", [repoId]);
      const wsId = await newWorkstream('active', repoId, repoGoalId);
      const rows = await capture(() => complete(wsId));
      const ws = await one<{ slug: string; title: string; completed_at: Date }>(
        'SELECT slug, title, completed_at FROM statehub.workstreams WHERE id = $1', [wsId]);
      const row = expectEvent(rows, 'org.statehub.workstream.completed', `workstream:${wsId}`, {
        workstream_id: wsId, slug: ws.slug, title: ws.title, topic_id: topicId, repo_id: repoId, repo_goal_id: repoGoalId,
      });
      expect(row.occurred_at.getTime()).to.equal(ws.completed_at.getTime());
    });

    it('workstream.completed — emitted from planned and blocked too, with repo_id and repo_goal_id null', async () => {
      for (const from of ['planned', 'blocked']) {
        const wsId = await newWorkstream(from);
        const rows = await capture(() => complete(wsId));
        expect(rows).to.have.length(1);
        expect(rows[0]!.attributes).to.include({ workstream_id: wsId, repo_id: null, repo_goal_id: null });
      }
    });

    it('workstream.completed — not emitted when the transaction rolls back', async () => {
      const wsId = await newWorkstream();
      expect(await capture(() => rolledBack((q) => complete(wsId, q)))).to.deep.equal([]);
      expect((await one<{ status: string }>('SELECT status FROM statehub.workstreams WHERE id = $1', [wsId])).status).to.equal('active');
    });

    it('workstream.completed — not emitted by an update that leaves the status unchanged', async () => {
      const wsId = await newWorkstream();
      const rows = await capture(async () => {
        await t.db.query('UPDATE statehub.workstreams SET status = status WHERE id = $1', [wsId]);
        await t.db.query("UPDATE statehub.workstreams SET status = 'active', title = 'renamed' WHERE id = $1", [wsId]);
      });
      expect(rows).to.deep.equal([]);
    });

    it('workstream.completed — not emitted by a second update of an already completed row', async () => {
      const wsId = await newWorkstream();
      await complete(wsId);
      const rows = await capture(async () => {
        await complete(wsId);
        await t.db.query("UPDATE statehub.workstreams SET title = 'after the fact' WHERE id = $1", [wsId]);
      });
      expect(rows).to.deep.equal([]);
    });

    it('workstream.completed — not emitted for other statuses', async () => {
      const wsId = await newWorkstream('planned');
      const rows = await capture(async () => {
        for (const status of ['active', 'blocked', 'planned', 'cancelled']) {
          await t.db.query('UPDATE statehub.workstreams SET status = $2 WHERE id = $1', [wsId, status]);
        }
      });
      expect(rows).to.deep.equal([]);
    });
  });

  describe('decision.resolved', () => {
    const newDecision = (topic: number | null, workstream: number | null) =>
      insertId('INSERT INTO statehub.decisions (title, topic_id, workstream_id) VALUES ($1, $2, $3) RETURNING id',
        [`Decision ${++n}`, topic, workstream]);
    const resolve = (id: number, rationale: string, q: Queryable = t.db) =>
      q.query("UPDATE statehub.decisions SET status = 'resolved', decided_by = 'ana', rationale = $2 WHERE id = $1", [id, rationale]);

    it('decision.resolved — emitted on resolution with the first 280 characters of the rationale', async () => {
      const wsId = await newWorkstream();
      const id = await newDecision(null, wsId);
      const rationale = 'é'.repeat(279) + 'xyz'.repeat(100);
      const rows = await capture(() => resolve(id, rationale));
      const d = await one<{ title: string; resolved_at: Date }>('SELECT title, resolved_at FROM statehub.decisions WHERE id = $1', [id]);
      const row = expectEvent(rows, 'org.statehub.decision.resolved', `decision:${id}`, {
        decision_id: id, title: d.title, topic_id: null, workstream_id: wsId, decided_by: 'ana', rationale_snippet: 'é'.repeat(279) + 'x',
      });
      expect(row.occurred_at.getTime()).to.equal(d.resolved_at.getTime());
    });

    it('decision.resolved — a short rationale is carried whole', async () => {
      const id = await newDecision(topicId, null);
      const rows = await capture(() => resolve(id, 'because'));
      expect(rows[0]!.attributes).to.include({ topic_id: topicId, workstream_id: null, rationale_snippet: 'because' });
    });

    it('decision.resolved — not emitted when the transaction rolls back', async () => {
      const id = await newDecision(topicId, null);
      expect(await capture(() => rolledBack((q) => resolve(id, 'no', q)))).to.deep.equal([]);
    });

    it('decision.resolved — not emitted by edits that leave the status unchanged, before or after resolution', async () => {
      const id = await newDecision(topicId, null);
      const before = await capture(() => t.db.query("UPDATE statehub.decisions SET status = 'open', title = 'edited' WHERE id = $1", [id]));
      await resolve(id, 'first');
      const after = await capture(async () => {
        await resolve(id, 'second');
        await t.db.query("UPDATE statehub.decisions SET title = 'edited again' WHERE id = $1", [id]);
      });
      expect([...before, ...after]).to.deep.equal([]);
    });

    it('decision.resolved — not emitted when a decision is withdrawn', async () => {
      const id = await newDecision(topicId, null);
      expect(await capture(() => t.db.query("UPDATE statehub.decisions SET status = 'withdrawn' WHERE id = $1", [id]))).to.deep.equal([]);
    });
  });

  describe('domain.goal.activated', () => {
    let goalDomainId: number;
    let goalDomainSlug: string;
    before(async () => {
      goalDomainSlug = slug('goals');
      goalDomainId = await insertId('INSERT INTO statehub.domains (slug, name) VALUES ($1, $1) RETURNING id', [goalDomainSlug]);
    });
    const newGoal = (domain = goalDomainId) =>
      insertId('INSERT INTO statehub.domain_goals (domain_id, title) VALUES ($1, $2) RETURNING id', [domain, `Goal ${++n}`]);
    const activate = (id: number, q: Queryable = t.db) => q.query('SELECT * FROM statehub.activate_domain_goal($1)', [id]);

    it('domain.goal.activated — emitted on activation with the catalog attributes and no superseded goals', async () => {
      const id = await newGoal();
      const rows = await capture(() => activate(id));
      const g = await one<{ title: string; activated_at: Date }>('SELECT title, activated_at FROM statehub.domain_goals WHERE id = $1', [id]);
      const row = expectEvent(rows, 'org.statehub.domain.goal.activated', `domain:${goalDomainId}`, {
        goal_id: id, domain_id: goalDomainId, domain_slug: goalDomainSlug, title: g.title, superseded_goal_ids: [],
      });
      expect(row.occurred_at.getTime()).to.equal(g.activated_at.getTime());
    });

    it('domain.goal.activated — lists exactly the goal this activation superseded', async () => {
      // The active goal from the previous test is superseded by the next activation only.
      const { id: previous } = await one<{ id: number }>("SELECT id FROM statehub.domain_goals WHERE domain_id = $1 AND status = 'active'", [goalDomainId]);
      const second = await newGoal();
      const untouched = await newGoal();
      const otherDomain = await insertId('INSERT INTO statehub.domains (slug, name) VALUES ($1, $1) RETURNING id', [slug('other')]);
      await activate(await newGoal(otherDomain));
      await activate(await newGoal(otherDomain));

      const first = await capture(() => activate(second));
      expect(first).to.have.length(1);
      expect(first[0]!.attributes).to.include({ goal_id: second });
      expect(first[0]!.attributes.superseded_goal_ids).to.deep.equal([previous]);

      const third = await capture(() => activate(untouched));
      expect(third[0]!.attributes.superseded_goal_ids).to.deep.equal([second]);
    });

    it('domain.goal.activated — a goal whose domain cannot be found is not activated without its event', async () => {
      const err = await withoutDomainKey('statehub.domain_goals', async (q) => {
        const { rows } = await q.query<{ id: number }>("INSERT INTO statehub.domain_goals (domain_id, title) VALUES (999999, 'orphan') RETURNING id");
        await activate(rows[0]!.id, q);
      });
      expect(err).to.include({ code: '23503' });
      expect((err as Error).message).to.match(/domain 999999, which does not exist: its domain.goal.activated event cannot be captured/);
    });

    it('domain.goal.activated — not emitted when the transaction rolls back', async () => {
      const id = await newGoal();
      expect(await capture(() => rolledBack((q) => activate(id, q)))).to.deep.equal([]);
    });

    it('domain.goal.activated — not emitted when an active goal is activated again or a goal leaves active', async () => {
      const id = await newGoal();
      await activate(id);
      const rows = await capture(async () => {
        await activate(id);
        await t.db.query("UPDATE statehub.domain_goals SET status = 'active', title = 'same status' WHERE id = $1", [id]);
        await t.db.query("UPDATE statehub.domain_goals SET status = 'achieved' WHERE id = $1", [id]);
        await t.db.query("UPDATE statehub.domain_goals SET status = 'abandoned' WHERE id = $1", [await newGoal()]);
      });
      expect(rows).to.deep.equal([]);
    });
  });
});
