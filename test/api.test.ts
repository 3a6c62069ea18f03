import { expect } from 'chai';
import type { RunningApi } from '../src/api/server.ts';
import { useTestDatabase } from './helpers/database.ts';
import { startTestApi, type Client, type Reply } from './helpers/http.ts';

function expectProblem(r: Reply, status: number, detail?: RegExp) {
  expect(r.status, JSON.stringify(r.body)).to.equal(status);
  expect(r.type).to.match(/^application\/problem\+json/);
  expect(r.body).to.include({ status, type: 'about:blank' });
  if (detail) expect(r.body.detail).to.match(detail);
  // Never SQL text or stack traces.
  expect(JSON.stringify(r.body)).not.to.match(/SELECT|INSERT|UPDATE|statehub\.|at .*\.ts:\d+/);
}

describe('HTTP API', function () {
  const t = useTestDatabase();
  let api: RunningApi;
  let c: Client;

  before(async () => {
    ({ api, client: c } = await startTestApi(t.db));
  });
  after(async () => {
    await api?.close();
  });

  async function created(path: string, body: unknown) {
    const r = await c.post(path, body);
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    expect(r.body.id).to.be.a('number');
    return r.body;
  }

  describe('domains', () => {
    it('creates, reads, lists and patches a domain', async () => {
      const d = await created('/domains', { slug: 'platform', name: 'Platform', description: 'shared infra' });
      expect(d).to.include({ slug: 'platform', name: 'Platform', description: 'shared infra' });
      expect(d.created_at).to.be.a('string');
      expect((await c.get('/domains/platform')).body).to.deep.equal(d);
      const list = await c.get('/domains');
      expect(list.body.items.map((x: { slug: string }) => x.slug)).to.include('platform');
      const p = await c.patch('/domains/platform', { name: 'Platform team' });
      expect(p.status).to.equal(200);
      expect(p.body.name).to.equal('Platform team');
      expect(p.body.updated_at >= d.updated_at).to.equal(true);
      expect(p.body.created_at).to.equal(d.created_at);
    });

    it('duplicate slug → 409 naming the rule, and nothing changes', async () => {
      await created('/domains', { slug: 'dup', name: 'First' });
      expectProblem(await c.post('/domains', { slug: 'dup', name: 'Second' }), 409, /slug already exists/);
      expect((await c.get('/domains/dup')).body.name).to.equal('First');
    });

    it('validation errors → 400 listing each bad field', async () => {
      const r = await c.post('/domains', { slug: 'Not A Slug', extra: 1 });
      expectProblem(r, 400);
      const fields = r.body.errors.map((e: { field: string }) => e.field);
      expect(fields).to.include.members(['slug', 'name', '(body)']);
    });

    it('unknown slug → 404; empty patch → 400', async () => {
      expectProblem(await c.get('/domains/nope'), 404, /domain nope does not exist/);
      expectProblem(await c.patch('/domains/nope', { name: 'x' }), 404);
      expectProblem(await c.patch('/domains/platform', {}), 400);
    });

    it('malformed JSON → 400, wrong content type → 415, body over 1 MiB → 413', async () => {
      expectProblem(await c.request('POST', '/domains', '{"slug":', { 'content-type': 'application/json' }), 400, /not valid JSON/);
      expectProblem(await c.request('POST', '/domains', 'slug=x', { 'content-type': 'text/plain' }), 415);
      const big = JSON.stringify({ slug: 'big', name: 'x'.repeat(1024 * 1024 + 10) });
      expectProblem(await c.request('POST', '/domains', big, { 'content-type': 'application/json' }), 413);
      expectProblem(await c.get('/domains/big'), 404);
    });

    it('paginates with a stable cursor and refuses limit over 500', async () => {
      for (let i = 0; i < 5; i++) await created('/domains', { slug: `page-${i}`, name: `P${i}` });
      const seen: number[] = [];
      let cursor: string | null = '';
      let pages = 0;
      while (cursor !== null) {
        const r: Reply = await c.get(`/domains?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).to.equal(200);
        expect(r.body.items.length).to.be.at.most(2);
        seen.push(...r.body.items.map((x: { id: number }) => x.id));
        cursor = r.body.next_cursor;
        pages++;
      }
      expect(pages).to.be.greaterThan(2);
      expect(seen).to.deep.equal([...seen].sort((a, b) => a - b));
      expect(new Set(seen).size).to.equal(seen.length);
      expectProblem(await c.get('/domains?limit=501'), 400);
      expectProblem(await c.get('/domains?cursor=garbage'), 400);
    });
  });

  describe('repos, topics, repo goals', () => {
    it('registers a repo with POST /repos/ and filters by domain', async () => {
      await created('/domains', { slug: 'tools', name: 'Tools' });
      const r = await created('/repos/', { slug: 'hub', domain_slug: 'tools', remote_url: 'git@example.org:hub.git' });
      expect(r).to.include({ slug: 'hub', domain_slug: 'tools', remote_url: 'git@example.org:hub.git', local_path: null });
      expect(r.registered_at).to.be.a('string');
      expect((await c.get('/repos/hub')).body.id).to.equal(r.id);
      expect((await c.get('/repos?domain=tools')).body.items.map((x: { slug: string }) => x.slug)).to.deep.equal(['hub']);
      expect((await c.get('/repos?domain=platform')).body.items).to.deep.equal([]);
      const p = await c.patch('/repos/hub', { local_path: '/src/hub' });
      expect(p.body.local_path).to.equal('/src/hub');
      expectProblem(await c.post('/repos', { slug: 'orphan', domain_slug: 'missing' }), 422, /domain_slug missing does not exist/);
      expectProblem(await c.get('/repos/missing'), 404);
    });

    it('creates, lists and patches topics and repo goals', async () => {
      const tp = await created('/topics', { slug: 'delivery', title: 'Delivery', domain_slug: 'tools' });
      expect(tp.domain_slug).to.equal('tools');
      expect((await c.get('/topics/delivery')).body.id).to.equal(tp.id);
      expect((await c.get('/topics?domain=tools')).body.items).to.have.length(1);
      expect((await c.patch('/topics/delivery', { title: 'Delivery work' })).body.title).to.equal('Delivery work');

      const g = await created('/repo-goals', { repo_slug: 'hub', title: 'Ship v1' });
      expect(g).to.include({ repo_slug: 'hub', status: 'draft' });
      expect((await c.get(`/repo-goals/${g.id}`)).body.title).to.equal('Ship v1');
      expect((await c.get('/repo-goals?repo=hub&status=draft')).body.items).to.have.length(1);
      expect((await c.patch(`/repo-goals/${g.id}`, { status: 'active' })).body.status).to.equal('active');
      expectProblem(await c.patch(`/repo-goals/${g.id}`, { status: 'bogus' }), 400);
      expectProblem(await c.get('/repo-goals/999999'), 404);
    });
  });

  describe('workstreams, tasks, decisions, progress', () => {
    let topicId: number;
    let repoId: number;

    before(async () => {
      topicId = (await c.get('/topics/delivery')).body.id;
      repoId = (await c.get('/repos/hub')).body.id;
    });

    it('creates a workstream, filters it and walks it to completed', async () => {
      const w = await created('/workstreams', { slug: 'ws-one', title: 'One', topic_id: topicId, repo_id: repoId });
      expect(w).to.include({ status: 'planned', topic_slug: 'delivery', repo_slug: 'hub', completed_at: null });
      expect((await c.get(`/workstreams?repo=hub&status=planned`)).body.items.map((x: { id: number }) => x.id)).to.include(w.id);
      expect((await c.get(`/workstreams?topic=${topicId}`)).body.items.map((x: { id: number }) => x.id)).to.include(w.id);
      expect((await c.patch(`/workstreams/${w.id}`, { status: 'active' })).body.status).to.equal('active');
      // Writing the same status again is not a transition and not an error.
      expect((await c.patch(`/workstreams/${w.id}`, { status: 'active' })).status).to.equal(200);
      const done = await c.patch(`/workstreams/${w.id}`, { status: 'completed' });
      expect(done.body.status).to.equal('completed');
      expect(done.body.completed_at).to.be.a('string');
    });

    it('illegal transition completed → planned → 409 naming the rule, row unchanged', async () => {
      const w = (await c.get('/workstreams?status=completed')).body.items[0];
      expectProblem(await c.patch(`/workstreams/${w.id}`, { status: 'planned' }), 409, /cannot go from completed to planned/);
      expect((await c.get(`/workstreams/${w.id}`)).body.status).to.equal('completed');
    });

    it('unknown references → 422, unknown ids → 404, bad ids → 400', async () => {
      expectProblem(await c.post('/workstreams', { slug: 'ws-x', title: 'X', topic_id: 987654 }), 422, /topic_id 987654 does not exist/);
      expectProblem(await c.get('/workstreams/987654'), 404);
      expectProblem(await c.get('/workstreams/abc'), 400);
      // Ids are never coerced: true, "7" or 1e2-style strings are not ids.
      expectProblem(await c.post('/tasks', { workstream_id: true, title: 'x' }), 400);
      expectProblem(await c.post('/tasks', { workstream_id: String(topicId), title: 'x' }), 400);
      expectProblem(await c.get('/tasks?workstream_id=1e2'), 400);
      expectProblem(await c.get('/workstreams/0x10'), 400);
      expectProblem(await c.post('/workstreams', { slug: 'ws-x', title: 'X', topic_id: topicId, status: 'completed' }), 409, /cannot be created with status completed/);
    });

    it('tasks: create, list by workstream and status, patch, illegal transition', async () => {
      const w = await created('/workstreams', { slug: 'ws-two', title: 'Two', topic_id: topicId, status: 'active' });
      const task = await created('/tasks', { workstream_id: w.id, title: 'Write docs' });
      expect(task.status).to.equal('todo');
      expect((await c.get(`/tasks?workstream_id=${w.id}&status=todo`)).body.items).to.have.length(1);
      expect((await c.get(`/tasks/${task.id}`)).body.title).to.equal('Write docs');
      expect((await c.patch(`/tasks/${task.id}`, { status: 'done' })).body.status).to.equal('done');
      expectProblem(await c.patch(`/tasks/${task.id}`, { status: 'todo' }), 409);
      expectProblem(await c.post('/tasks', { workstream_id: 987654, title: 'x' }), 422);
    });

    it('decisions: open, list, resolve once, never reopen', async () => {
      const d = await created('/decisions', { title: 'Pick a broker', topic_id: topicId });
      expect(d).to.include({ status: 'open', decided_by: null });
      expect((await c.get('/decisions?status=open')).body.items.map((x: { id: number }) => x.id)).to.include(d.id);
      expectProblem(await c.post(`/decisions/${d.id}/resolve`, { decided_by: 'ana' }), 400);
      const r = await c.post(`/decisions/${d.id}/resolve`, { decided_by: 'ana', rationale: 'JetStream is already run here' });
      expect(r.status).to.equal(200);
      expect(r.body).to.include({ status: 'resolved', decided_by: 'ana' });
      expect(r.body.resolved_at).to.be.a('string');
      expectProblem(await c.post(`/decisions/${d.id}/resolve`, { decided_by: 'bob', rationale: 'changed my mind' }), 409, /only an open decision/);
      expect((await c.get(`/decisions/${d.id}`)).body.decided_by).to.equal('ana');
      expectProblem(await c.post('/decisions/987654/resolve', { decided_by: 'a', rationale: 'b' }), 404);
      const w = await created('/decisions', { title: 'Maybe later' });
      expect((await c.patch(`/decisions/${w.id}`, { status: 'withdrawn' })).body.status).to.equal('withdrawn');
      expectProblem(await c.patch(`/decisions/${w.id}`, { status: 'open' }), 400);
    });

    it('progress events: append, list by workstream oldest first', async () => {
      const w = (await c.get('/workstreams?status=active')).body.items[0];
      const a = await created('/progress-events', { workstream_id: w.id, message: 'started' });
      const b = await created('/progress-events', { workstream_id: w.id, kind: 'commit', message: 'abc123' });
      expect(a.kind).to.equal('note');
      const list = await c.get(`/progress-events?workstream_id=${w.id}`);
      expect(list.body.items.map((x: { id: number }) => x.id)).to.deep.equal([a.id, b.id]);
      expect((await c.get(`/progress-events/${a.id}`)).body.message).to.equal('started');
      expectProblem(await c.post('/progress-events', { message: '' }), 400);
      const aboutNothing = await c.post('/progress-events', { message: 'about nothing' });
      expectProblem(aboutNothing, 422);
      expect(aboutNothing.body.detail).to.equal('a progress event must name the work it is about: give a workstream, a task, or both');
    });

    it('progress events: the workstream by slug instead of id, never both, and an unknown slug is a 422', async () => {
      const w = (await c.get('/workstreams?status=active')).body.items[0];
      const e = await created('/progress-events', { workstream_slug: w.slug, message: 'by slug' });
      expect(e.workstream_id).to.equal(w.id);
      const both = await c.post('/progress-events', { workstream_id: w.id, workstream_slug: w.slug, message: 'x' });
      expectProblem(both, 400, /not both/);
      expectProblem(await c.post('/progress-events', { workstream_slug: 'no-such-ws', message: 'x' }), 422, /workstream_slug no-such-ws does not exist/);
    });
  });

  describe('domain goals', () => {
    it('activation supersedes the current active goal in one transaction', async () => {
      const g1 = await created('/domain-goals', { domain_slug: 'tools', title: 'Goal one' });
      const g2 = await created('/domain-goals', { domain_slug: 'tools', title: 'Goal two' });
      expect(g1.status).to.equal('draft');
      const a1 = await c.post(`/domain-goals/${g1.id}/activate`);
      expect(a1.body).to.include({ status: 'active' });
      expect(a1.body.activated_at).to.be.a('string');
      const a2 = await c.post(`/domain-goals/${g2.id}/activate`);
      expect(a2.body.status).to.equal('active');
      const old = (await c.get(`/domain-goals/${g1.id}`)).body;
      expect(old).to.include({ status: 'superseded', superseded_by: g2.id });
      expect((await c.get('/domain-goals?domain=tools&status=active')).body.items.map((x: { id: number }) => x.id)).to.deep.equal([g2.id]);
      // Activating the active goal again changes nothing.
      expect((await c.post(`/domain-goals/${g2.id}/activate`)).body.activated_at).to.equal(a2.body.activated_at);
      expectProblem(await c.post(`/domain-goals/${g1.id}/activate`), 409, /cannot go from superseded to active/);
      expectProblem(await c.post('/domain-goals/987654/activate'), 404);
    });

    it('a second active goal through PATCH → 409 naming the rule', async () => {
      const g3 = await created('/domain-goals', { domain_slug: 'tools', title: 'Goal three' });
      expectProblem(await c.patch(`/domain-goals/${g3.id}`, { status: 'active' }), 409, /at most one active goal/);
      expect((await c.get(`/domain-goals/${g3.id}`)).body.status).to.equal('draft');
      expect((await c.patch(`/domain-goals/${g3.id}`, { title: 'Goal 3' })).body.title).to.equal('Goal 3');
    });
  });

  describe('read models and service endpoints', () => {
    it('next-steps lists blocked tasks, then open decisions, then in-progress, then todo', async () => {
      const topicId = (await c.get('/topics/delivery')).body.id;
      const w = await created('/workstreams', { slug: 'ws-next', title: 'Next', topic_id: topicId, repo_id: (await c.get('/repos/hub')).body.id, status: 'active' });
      const todo = await created('/tasks', { workstream_id: w.id, title: 'todo one' });
      const doing = await created('/tasks', { workstream_id: w.id, title: 'doing', status: 'in_progress' });
      const stuck = await created('/tasks', { workstream_id: w.id, title: 'stuck', status: 'blocked' });
      const parked = await created('/workstreams', { slug: 'ws-parked', title: 'Parked', topic_id: topicId });
      await created('/tasks', { workstream_id: parked.id, title: 'not listed: workstream not active' });
      const dec = await created('/decisions', { title: 'Which db', workstream_id: w.id });

      const r = await c.get('/next-steps?limit=500');
      expect(r.status).to.equal(200);
      const keys = r.body.items.map((x: { kind: string; id: number }) => `${x.kind}:${x.id}`);
      const pos = (k: string) => keys.indexOf(k);
      expect(pos(`task:${stuck.id}`)).to.be.within(0, pos(`decision:${dec.id}`));
      expect(pos(`decision:${dec.id}`)).to.be.lessThan(pos(`task:${doing.id}`));
      expect(pos(`task:${doing.id}`)).to.be.lessThan(pos(`task:${todo.id}`));
      expect(r.body.items.every((x: { title: string }) => !x.title.startsWith('not listed'))).to.equal(true);
      const item = r.body.items[pos(`task:${stuck.id}`)];
      expect(item).to.include({ workstream_slug: 'ws-next', repo_slug: 'hub', domain_slug: 'tools' });
      const first = await c.get('/next-steps?limit=1');
      expect(first.body.items).to.deep.equal(r.body.items.slice(0, 1));
      expect(first.body.next_cursor).to.be.a('string');
      const second = await c.get(`/next-steps?limit=1&cursor=${first.body.next_cursor}`);
      expect(second.body.items).to.deep.equal(r.body.items.slice(1, 2));
    });

    it('next-steps?domain keeps one domain (slug or id): tasks by their workstream, decisions by workstream else topic', async () => {
      const solo = await created('/domains', { slug: 'solo', name: 'Solo' });
      const topic = await created('/topics', { slug: 'solo-t', title: 'Solo topic', domain_slug: 'solo' });
      const w = await created('/workstreams', { slug: 'solo-w', title: 'Solo', topic_id: topic.id, status: 'active' });
      const task = await created('/tasks', { workstream_id: w.id, title: 'solo task' });
      const byTopic = await created('/decisions', { title: 'solo decision', topic_id: topic.id });
      // A decision's workstream decides its domain before its topic does.
      const elsewhere = await created('/decisions', { title: 'tools decision', topic_id: topic.id, workstream_id: (await c.get('/workstreams?status=active')).body.items[0].id });
      const keys = (r: Reply) => r.body.items.map((x: { kind: string; id: number }) => `${x.kind}:${x.id}`);
      const bySlug = await c.get('/next-steps?domain=solo');
      expect(keys(bySlug)).to.deep.equal([`decision:${byTopic.id}`, `task:${task.id}`]);
      expect(bySlug.body.items.every((x: { domain_slug: string }) => x.domain_slug === 'solo')).to.equal(true);
      expect(keys(await c.get(`/next-steps?domain=${solo.id}`))).to.deep.equal(keys(bySlug));
      const tools = await c.get('/next-steps?domain=tools&limit=500');
      expect(keys(tools)).to.include(`decision:${elsewhere.id}`).and.not.include(`task:${task.id}`);
      expect(tools.body.items.every((x: { domain_slug: string }) => x.domain_slug === 'tools')).to.equal(true);
      expectProblem(await c.get('/next-steps?domain=nowhere'), 404, /domain nowhere does not exist/);
      expectProblem(await c.get('/next-steps?domain=987654'), 404, /domain 987654 does not exist/);
      // A domain without open work is an empty page, not an error.
      await created('/domains', { slug: 'idle', name: 'Idle' });
      expect((await c.get('/next-steps?domain=idle')).body).to.deep.equal({ items: [], next_cursor: null });
      expectProblem(await c.get('/next-steps?domain=012'), 400);
      expectProblem(await c.get('/next-steps?domain=0'), 400);
    });

    it('next-steps pages by cursor through items created within one millisecond, none skipped or repeated', async () => {
      // Created_at values a JS Date cannot tell apart (same millisecond) and one exact tie,
      // in every rank; the cursor must carry the stored microseconds and fall back to the id.
      const w = (await c.get('/workstreams?status=active&limit=1')).body.items[0];
      for (const [status, at] of [
        ['blocked', '2000-01-01 00:00:00.000001+00'], ['blocked', '2000-01-01 00:00:00.000002+00'],
        ['blocked', '2000-01-01 00:00:00.000002+00'], ['in_progress', '2000-01-01 00:00:00.000999+00'],
        ['in_progress', '2000-01-01 00:00:00.000001+00'], ['todo', '2000-01-01 00:00:00.0005+00'],
      ]) {
        await t.db.query('INSERT INTO statehub.tasks (workstream_id, title, status, created_at) VALUES ($1, $2, $3, $4)', [w.id, `same ms ${at}`, status, at]);
      }
      await t.db.query(`INSERT INTO statehub.decisions (title, workstream_id, created_at) VALUES
                          ('same ms a', $1, '2000-01-01 00:00:00.000003+00'), ('same ms b', $1, '2000-01-01 00:00:00.000002+00')`, [w.id]);
      const all = (await c.get('/next-steps?limit=500')).body;
      expect(all.next_cursor).to.equal(null);
      expect(all.items.filter((x: { title: string }) => x.title.startsWith('same ms'))).to.have.length(8);
      for (const limit of [1, 2, 3]) {
        const walked: unknown[] = [];
        let cursor: string | null = '';
        while (cursor !== null) {
          const page: Reply = await c.get(`/next-steps?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
          expect(page.status, JSON.stringify(page.body)).to.equal(200);
          walked.push(...page.body.items);
          // A cursor that lost its microseconds would come back to the same page for ever.
          expect(walked.length, `limit ${limit}: more items than there are`).to.be.at.most(all.items.length);
          cursor = page.body.next_cursor;
        }
        expect(walked, `limit ${limit}`).to.deep.equal(all.items);
      }
    });

    it('domain overview shows the active goal, repos, workstreams by status, open decisions', async () => {
      const r = await c.get('/domains/tools/overview');
      expect(r.status).to.equal(200);
      expect(r.body.domain.slug).to.equal('tools');
      expect(r.body.active_goal.title).to.equal('Goal two');
      expect(r.body.repos.map((x: { slug: string }) => x.slug)).to.deep.equal(['hub']);
      expect(r.body.workstreams_by_status.completed.count).to.be.at.least(1);
      expect(r.body.workstreams_by_status.active.items.map((x: { slug: string }) => x.slug)).to.include('ws-next');
      expect(r.body.open_decisions.map((x: { title: string }) => x.title)).to.include('Which db');
      expectProblem(await c.get('/domains/nope/overview'), 404);
    });

    it('healthz, readyz, openapi.json, unknown route', async () => {
      expect((await c.get('/healthz')).body).to.deep.equal({ status: 'ok' });
      expect((await c.get('/readyz')).status).to.equal(200);
      const doc = (await c.get('/openapi.json')).body;
      expect(doc.openapi).to.equal('3.1.0');
      expect(doc.paths['/workstreams/{id}'].patch.requestBody.content['application/json'].schema.properties.status.enum).to.include('completed');
      expect(doc.paths['/domains'].post.requestBody.content['application/json'].schema.required).to.deep.equal(['slug', 'name']);
      expect(Object.keys(doc.paths)).to.include.members(['/next-steps', '/domains/{slug}/overview', '/decisions/{id}/resolve']);
      expectProblem(await c.get('/no/such/route'), 404);
    });

    it('echoes a request id, or makes one', async () => {
      const res = await fetch(`${c.base}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
      expect(res.headers.get('x-request-id')).to.equal('abc-123');
      const other = await fetch(`${c.base}/healthz`);
      expect(other.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
    });
  });
});
