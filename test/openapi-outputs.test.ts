// /openapi.json documents what each route returns with the operation's output schema: every
// answer of every route, on real data, validates against it (no field missing, none extra).
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { expect } from 'chai';
import type { RunningApi } from '../src/api/server.ts';
import { noSettings } from '../src/operations/operation.ts';
import { useTestDatabase } from './helpers/database.ts';
import { startTestApi, type Client, type Reply } from './helpers/http.ts';
import { workplanText } from './helpers/workplans.ts';

/** The paths of object schemas below `schema` that would let an unknown field through. */
function openObjects(schema: Record<string, any>, at = '$'): string[] {
  const open = schema.type === 'object' && schema.additionalProperties !== false ? [at] : [];
  const below = [
    ...Object.entries<Record<string, any>>(schema.properties ?? {}).map(([k, v]) => openObjects(v, `${at}.${k}`)),
    ...(schema.items ? [openObjects(schema.items, `${at}[]`)] : []),
    ...(schema.anyOf ?? []).map((v: Record<string, any>, i: number) => openObjects(v, `${at}|${i}`)),
  ];
  return [...open, ...below.flat()];
}

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: object }> }> }>> };

describe('OpenAPI response schemas', function () {
  const t = useTestDatabase();
  let api: RunningApi;
  let c: Client;
  let doc: Doc;
  const answers: Array<{ path: string; method: string; reply: Reply }> = [];
  const validator = new AjvJsonSchemaValidator();
  // The repo's checkout, with workplan files for POST /repos/{slug}/sync and GET .../drift.
  const root = realpathSync(mkdtempSync(path.join(tmpdir(), 'statehub-openapi-')));
  const plans = path.join(root, 'hub', 'workplans');
  mkdirSync(plans, { recursive: true });
  const plan = (tasks: string[]) => writeFileSync(path.join(plans, 'PLAN-1.md'), workplanText({ title: 'Plan', status: 'active', topic: 'events' }, tasks));

  /** Sends a request and keeps its answer under the documented path it reached. */
  async function send(method: string, template: string, values: Record<string, string | number>, body?: unknown): Promise<any> {
    const url = template.replace(/\{(\w+)\}/g, (_m, name: string) => String(values[name]));
    const reply = await c.request(method.toUpperCase(), url, body);
    expect(reply.status, `${method} ${url}: ${JSON.stringify(reply.body)}`).to.be.within(200, 201);
    answers.push({ path: template.split('?')[0]!, method, reply });
    return reply.body;
  }

  before(async () => {
    ({ api, client: c } = await startTestApi(t.db, { settings: { ...noSettings, workplanRoots: [root] } }));
    const domain = await send('post', '/domains', {}, { slug: 'plans', name: 'Plans' });
    await send('patch', '/domains/{slug}', { slug: 'plans' }, { description: 'what we plan' });
    const goal = await send('post', '/domain-goals', {}, { domain_slug: 'plans', title: 'Ship events' });
    await send('post', '/domain-goals/{id}/activate', { id: goal.id });
    await send('patch', '/domain-goals/{id}', { id: goal.id }, { description: 'all of them' });
    const repo = await send('post', '/repos', {}, { slug: 'hub', domain_slug: 'plans', remote_url: 'git@example:hub.git' });
    await send('patch', '/repos/{slug}', { slug: 'hub' }, { local_path: path.join(root, 'hub') });
    const repoGoal = await send('post', '/repo-goals', {}, { repo_slug: 'hub', title: 'Pump', domain_goal_id: goal.id });
    await send('patch', '/repo-goals/{id}', { id: repoGoal.id }, { status: 'active' });
    const topic = await send('post', '/topics', {}, { slug: 'events', title: 'Events', domain_slug: 'plans' });
    await send('post', '/topics', {}, { slug: 'loose', title: 'No domain' });
    await send('patch', '/topics/{slug}', { slug: 'events' }, { title: 'Lifecycle events' });
    const ws = await send('post', '/workstreams', {}, { slug: 'pump', title: 'Pump', topic_id: topic.id, repo_id: repo.id, repo_goal_id: repoGoal.id });
    await send('patch', '/workstreams/{id}', { id: ws.id }, { status: 'active' });
    const task = await send('post', '/tasks', {}, { workstream_id: ws.id, title: 'Write it', status: 'blocked', status_reason: 'stream missing' });
    await send('patch', '/tasks/{id}', { id: task.id }, { status: 'in_progress', status_reason: null });
    const decision = await send('post', '/decisions', {}, { title: 'Which stream?', workstream_id: ws.id });
    await send('post', '/decisions', {}, { title: 'Which retention?', topic_id: topic.id });
    await send('post', '/decisions/{id}/resolve', { id: decision.id }, { decided_by: 'team', rationale: 'one stream' });
    const withdrawn = await send('post', '/decisions', {}, { title: 'Obsolete' });
    await send('patch', '/decisions/{id}', { id: withdrawn.id }, { status: 'withdrawn' });
    const event = await send('post', '/progress-events', {}, { workstream_slug: 'pump', task_id: task.id, message: 'started' });
    // A sync report with an item in every list: a change, a conflict, a file behind the hub,
    // an invalid file and a task gone from its file.
    plan(['- [ ] T01 Behind', '- [ ] T02 Both', '- [ ] T03 Gone']);
    writeFileSync(path.join(plans, 'BAD-1.md'), workplanText({ title: 'Bad', status: 'doing', topic: 'events' }));
    const first = await send('post', '/repos/{slug}/sync', { slug: 'hub' }, {});
    const planned = await send('get', '/tasks?workstream={id}', { id: first.files.find((f: { workstream_id: number | null }) => f.workstream_id).workstream_id });
    const [behind, both] = planned.items;
    await send('patch', '/tasks/{id}', { id: behind.id }, { status: 'in_progress' });
    await send('patch', '/tasks/{id}', { id: both.id }, { status: 'cancelled' });
    plan(['- [ ] T01 Behind', '- [x] T02 Both', '- [ ] T04 New']);
    const report = await send('post', '/repos/{slug}/sync', { slug: 'hub' }, { dry_run: true, prune: true });
    expect(report.files.map((f: { outcome: string }) => f.outcome)).to.deep.equal(['invalid', 'conflict']);
    expect([report.files[1].changes, report.files[1].conflicts, report.files[1].file_behind_hub, report.missing_from_file].map((l) => l.length)).to.deep.equal([2, 1, 1, 1]);
    doc = (await c.get('/openapi.json')).body;
    const values = { slug: 'plans', id: 0 };
    const ids: Record<string, number> = {
      '/domain-goals': goal.id, '/repo-goals': repoGoal.id, '/workstreams': ws.id, '/tasks': task.id, '/decisions': decision.id, '/progress-events': event.id,
    };
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!ops.get || ['/openapi.json', '/healthz', '/readyz'].includes(path)) continue;
      const prefix = `/${path.split('/')[1]}`;
      await send('get', path, { ...values, slug: prefix === '/repos' ? 'hub' : prefix === '/topics' ? 'events' : 'plans', id: ids[prefix] ?? 0 });
    }
    expect(domain.slug).to.equal('plans');
  });
  after(async () => {
    await api?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('documents a response schema for every route that runs an operation', () => {
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (['/openapi.json', '/healthz', '/readyz', '/mcp'].includes(path)) continue;
        const success = op.responses['200'] ?? op.responses['201'];
        if (!success?.content?.['application/json']?.schema) missing.push(`${method} ${path}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('every answer above validates against its documented schema, which allows no extra field', () => {
    // Every documented route was called at least once.
    const called = new Set(answers.map((a) => `${a.method} ${a.path}`));
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).filter(() => !['/openapi.json', '/healthz', '/readyz', '/mcp'].includes(path)).map((m) => `${m} ${path}`),
    );
    expect(documented.filter((d) => !called.has(d))).to.deep.equal([]);
    for (const { path, method, reply } of answers) {
      const schema = doc.paths[path]![method]!.responses[String(reply.status)]!.content!['application/json']!.schema!;
      const check = validator.getValidator(schema as never)(reply.body);
      expect(check.valid, `${method} ${path}: ${check.errorMessage}\n${JSON.stringify(reply.body)}`).to.equal(true);
      expect(openObjects(schema), `${method} ${path}`).to.deep.equal([]);
    }
  });
});
