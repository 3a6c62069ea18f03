// No request makes PostgreSQL read or sort a whole table: every list filter the routes declare
// is served by an index that yields the matching rows in id order (migrations/0005), and
// /next-steps reads about a page of rows however deep its cursor. The plans are PostgreSQL's
// own: every statement the API sends is EXPLAINed first, with the same parameters.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import pg from 'pg';
import { defaultAccess } from '../src/api/access.ts';
import { makeApp } from '../src/api/app.ts';
import type { Db } from '../src/db.ts';
import { silentLogger } from '../src/logger.ts';
import { useTestDatabase } from './helpers/database.ts';
import { Client, type Reply } from './helpers/http.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

const nodesOf = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodesOf)];

const describePlan = (plan: PlanNode) =>
  nodesOf(plan)
    .map((n) => [n['Node Type'], n['Relation Name'] && `on ${n['Relation Name']}`, n['Index Name'] && `using ${n['Index Name']}`, n['Index Cond']].filter(Boolean).join(' '))
    .join(' | ');

/** How the API's statements are explained while `explain` is set; planner settings are per statement. */
interface Explaining {
  explain?: string;
  settings: string[];
  plans: PlanNode[];
}

/**
 * Gives the enclosing describe() a migrated database, an explainer connection and the app on a
 * free port, over a Db that EXPLAINs each statement (when asked to) before running it.
 */
function useExplainedApi() {
  const how: Explaining = { settings: [], plans: [] };
  let explainer: pg.Client | undefined;
  let server: Server | undefined;
  let client: Client | undefined;
  after(async () => {
    if (server) {
      await new Promise((resolve) => {
        server!.close(resolve);
        server!.closeIdleConnections();
      });
    }
    await explainer?.end();
  });
  const t = useTestDatabase();

  async function explain(text: string, params: unknown[] | undefined): Promise<PlanNode> {
    await explainer!.query('BEGIN');
    try {
      for (const setting of how.settings) await explainer!.query(`SET LOCAL ${setting}`);
      const { rows } = await explainer!.query(`EXPLAIN (${how.explain}) ${text}`, params);
      return rows[0]['QUERY PLAN'][0].Plan;
    } finally {
      await explainer!.query('ROLLBACK');
    }
  }

  before(async () => {
    explainer = new pg.Client({ connectionString: t.url });
    await explainer.connect();
    const db: Db = {
      pool: t.db.pool,
      tx: (fn) => t.db.tx(fn),
      session: (fn) => t.db.session(fn),
      close: () => t.db.close(),
      async query<R extends pg.QueryResultRow>(text: string, params?: unknown[]) {
        if (how.explain) how.plans.push(await explain(text, params));
        return t.db.query<R>(text, params);
      },
    };
    server = createServer(makeApp({ db, log: silentLogger(), access: defaultAccess('127.0.0.1') }));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    client = new Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  return {
    how,
    t,
    get c() {
      return client!;
    },
  };
}

async function ok(r: Promise<Reply>): Promise<Reply['body']> {
  const reply = await r;
  expect(reply.status, JSON.stringify(reply.body)).to.be.oneOf([200, 201]);
  return reply.body;
}

interface QueryParameter {
  name: string;
  deprecated?: boolean;
  schema: { enum?: string[]; description?: string };
}

describe('list filters have the indexes they need', function () {
  const api = useExplainedApi();
  const { how, t } = api;

  before(async () => {
    // Two rows for every filter value below, so each filter has a second page behind a cursor.
    await ok(api.c.post('/domains', { slug: 'plans', name: 'Plans' }));
    for (const n of [1, 2]) {
      await ok(api.c.post('/topics', { slug: `plans-t${n}`, title: 'T', domain_slug: 'plans' }));
      await ok(api.c.post('/repos', { slug: `plans-r${n}`, domain_slug: 'plans' }));
      await ok(api.c.post('/domain-goals', { domain_slug: 'plans', title: 'G' }));
      await ok(api.c.post('/repo-goals', { repo_slug: 'plans-r1', title: 'G' }));
    }
    const [topic, repo] = [(await ok(api.c.get('/topics/plans-t1'))).id, (await ok(api.c.get('/repos/plans-r1'))).id];
    const ws = [];
    for (const n of [1, 2]) ws.push((await ok(api.c.post('/workstreams', { slug: `plans-w${n}`, title: 'W', topic_id: topic, repo_id: repo }))).id);
    const tasks = [];
    for (const n of [1, 2]) tasks.push((await ok(api.c.post('/tasks', { workstream_id: ws[0], title: `task ${n}` }))).id);
    for (const n of [1, 2]) {
      await ok(api.c.post('/decisions', { title: `decision ${n}`, topic_id: topic, workstream_id: ws[0] }));
      await ok(api.c.post('/progress-events', { workstream_id: ws[0], task_id: tasks[0], message: `progress ${n}` }));
    }
  });

  it('every filter of every list walks an index on (filter column, id) from the cursor: an Index Cond on the column, no Sort', async () => {
    // Tiny tables would be read whole whatever the indexes; with sequential and bitmap scans
    // and sorting priced out, PostgreSQL still does either only where no index serves.
    how.settings = ['enable_seqscan = off', 'enable_bitmapscan = off', 'enable_sort = off'];
    const doc = await ok(api.c.get('/openapi.json'));
    const tested: string[] = [];
    const failures: string[] = [];
    for (const [path, ops] of Object.entries<{ get?: { parameters: QueryParameter[] } }>(doc.paths)) {
      const params = ops.get?.parameters ?? [];
      if (path.includes('{') || !params.some((p) => p.name === 'cursor')) continue;
      // Not a table but a union of four index walks, with its own bound below.
      if (path === '/next-steps') continue;
      const table = path.slice(1).replaceAll('-', '_');
      for (const p of params) {
        if (p.deprecated || p.name === 'limit' || p.name === 'cursor') continue;
        // A status filter takes the first of its values; a reference filter (task, workstream,
        // ...) an existing row's id and, where it takes one, that row's slug.
        const column = p.schema.enum ? p.name : `${p.name}_id`;
        const values: string[] = [];
        if (p.schema.enum) values.push(p.schema.enum[0]!);
        else {
          const { rows } = await t.db.query(`SELECT min(id) AS id FROM statehub.${p.name}s`);
          values.push(String(rows[0]!.id));
          if (p.schema.description?.includes('slug')) {
            values.push((await t.db.query(`SELECT slug FROM statehub.${p.name}s WHERE id = $1`, [rows[0]!.id])).rows[0]!.slug);
          }
        }
        for (const value of values) {
          tested.push(`${path}?${p.name}`);
          let cursor = '';
          for (const page of ['first page', 'second page']) {
            how.explain = 'FORMAT JSON';
            how.plans = [];
            const r = await api.c.get(`${path}?${p.name}=${encodeURIComponent(value)}&limit=1${cursor}`);
            how.explain = undefined;
            const request = `GET ${path}?${p.name}=${value}, ${page}`;
            expect(r.status, `${request}: ${JSON.stringify(r.body)}`).to.equal(200);
            expect(r.body.items, `${request}: the seed rows match`).to.have.length(1);
            if (page === 'first page') {
              expect(r.body.next_cursor, request).to.be.a('string');
              cursor = `&cursor=${r.body.next_cursor}`;
            }
            expect(how.plans, `${request}: one statement`).to.have.length(1);
            const plan = how.plans[0]!;
            const nodes = nodesOf(plan);
            const sorts = nodes.some((n) => n['Node Type'].includes('Sort'));
            const indexed = nodes.some((n) => n['Relation Name'] === table && new RegExp(`\\b${column} = `).test(n['Index Cond'] ?? ''));
            if (sorts || !indexed) failures.push(`${request}: ${sorts ? 'sorts' : `no Index Cond on ${table}.${column}`}: ${describePlan(plan)}`);
          }
        }
      }
    }
    // The walk above found the filters (a change to /openapi.json must not make it vacuous).
    expect(tested).to.include.members([
      '/topics?domain', '/tasks?workstream', '/tasks?status', '/decisions?status', '/decisions?topic', '/decisions?workstream',
      '/progress-events?workstream', '/progress-events?task', '/domain-goals?domain', '/domain-goals?status', '/repos?domain',
      '/repo-goals?repo', '/repo-goals?status', '/workstreams?status', '/workstreams?repo', '/workstreams?topic',
    ]);
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });
});

describe('GET /next-steps reads about a page of rows, however deep its cursor', function () {
  const api = useExplainedApi();
  const { how, t } = api;
  const LIMIT = 50;
  // One branch per rank, each stopping after limit + 1 rows (src/operations/read-models.ts).
  const BOUND = 4 * (LIMIT + 1);

  before(async function () {
    this.timeout(120_000);
    // 20,000 tasks, 16,000 of them open, and 5,000 decisions, 3,000 open, created over a
    // span with many in the same millisecond; statistics as autovacuum would have them.
    await ok(api.c.post('/domains', { slug: 'bulk-d', name: 'Bulk' }));
    const topic = (await ok(api.c.post('/topics', { slug: 'bulk', title: 'Bulk', domain_slug: 'bulk-d' }))).id;
    const w = (await ok(api.c.post('/workstreams', { slug: 'bulk-w', title: 'Bulk', topic_id: topic, status: 'active' }))).id;
    await t.db.query(
      `INSERT INTO statehub.tasks (workstream_id, title, status, created_at)
       SELECT $1, 'bulk ' || i, (ARRAY['blocked', 'in_progress', 'todo', 'todo', 'todo'])[i % 5 + 1]::statehub.task_status,
              timestamptz '2001-01-01' + (i * 7919 % 20000) * interval '1 millisecond' + (i % 3) * interval '1 microsecond'
         FROM generate_series(1, 20000) i`,
      [w],
    );
    await t.db.query(`UPDATE statehub.tasks SET status = 'done' WHERE status = 'todo' AND id % 3 = 0`);
    await t.db.query(
      `INSERT INTO statehub.decisions (title, workstream_id, created_at)
       SELECT 'bulk ' || i, $1, timestamptz '2001-01-01' + (i * 7919 % 5000) * interval '1 millisecond'
         FROM generate_series(1, 5000) i`,
      [w],
    );
    await t.db.query(`UPDATE statehub.decisions SET status = 'resolved', decided_by = 'bulk', rationale = 'bulk' WHERE id % 5 < 2`);
    await t.db.query('ANALYZE statehub.tasks, statehub.decisions, statehub.workstreams');
  });

  /** The page's plan as PostgreSQL chose and ran it, with its default settings. */
  async function explainedPage(cursor: string, filter = ''): Promise<{ body: Reply['body']; plan: PlanNode }> {
    how.settings = [];
    how.explain = 'FORMAT JSON, ANALYZE';
    how.plans = [];
    try {
      const body = await ok(api.c.get(`/next-steps?limit=${LIMIT}${filter}${cursor ? `&cursor=${cursor}` : ''}`));
      expect(how.plans).to.have.length(1);
      return { body, plan: how.plans[0]! };
    } finally {
      how.explain = undefined;
    }
  }

  function expectBounded(plan: PlanNode): void {
    const nodes = nodesOf(plan);
    const scans = nodes.filter((n) => n['Relation Name'] === 'tasks' || n['Relation Name'] === 'decisions');
    const read = scans.reduce((sum, n) => sum + n['Actual Rows']! * n['Actual Loops']!, 0);
    expect(scans.map((n) => n['Node Type']), describePlan(plan)).to.not.include('Seq Scan');
    expect(read, `rows read from tasks and decisions: ${describePlan(plan)}`).to.be.at.most(BOUND);
    for (const sort of nodes.filter((n) => n['Node Type'].includes('Sort'))) {
      expect(sort['Actual Rows'], `a Sort: ${describePlan(plan)}`).to.be.at.most(BOUND);
    }
  }

  it('the first page reads at most limit + 1 rows per rank', async () => {
    const { body, plan } = await explainedPage('');
    expect(body.items).to.have.length(LIMIT);
    expect(body.items.every((x: { rank: number }) => x.rank === 1)).to.equal(true);
    expectBounded(plan);
  });

  it('a page 14,000 items deep, among the tasks to do, reads as few', async () => {
    let cursor = '';
    let seen = 0;
    while (seen < 14_000) {
      const page = await ok(api.c.get(`/next-steps?limit=500${cursor ? `&cursor=${cursor}` : ''}`));
      seen += page.items.length;
      cursor = page.next_cursor;
    }
    const { body, plan } = await explainedPage(cursor);
    expect(body.items).to.have.length(LIMIT);
    expect(body.items.every((x: { rank: number }) => x.rank === 4)).to.equal(true);
    expectBounded(plan);
  });

  it('with a domain holding the rows, the first page and a deep one read as few', async () => {
    const first = await explainedPage('', '&domain=bulk-d');
    expect(first.body.items).to.have.length(LIMIT);
    expect(first.body.items.every((x: { domain_slug: string }) => x.domain_slug === 'bulk-d')).to.equal(true);
    expectBounded(first.plan);
    let cursor = '';
    for (let seen = 0; seen < 14_000; ) {
      const page = await ok(api.c.get(`/next-steps?limit=500&domain=bulk-d${cursor ? `&cursor=${cursor}` : ''}`));
      seen += page.items.length;
      cursor = page.next_cursor;
    }
    const deep = await explainedPage(cursor, '&domain=bulk-d');
    expect(deep.body.items.every((x: { rank: number }) => x.rank === 4)).to.equal(true);
    expectBounded(deep.plan);
  });
});
