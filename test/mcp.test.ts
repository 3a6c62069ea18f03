// The MCP server with the SDK's own Client: over stdio (statehub mcp as a child process) and
// over Streamable HTTP (POST /mcp on a running API), against a real database.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { z } from 'zod';
import { listenApi, type RunningApi } from '../src/api/server.ts';
import type { Db } from '../src/db.ts';
import { silentLogger } from '../src/logger.ts';
import { decisions } from '../src/operations/decisions.ts';
import { domains } from '../src/operations/domains.ts';
import { noSettings, type Operation } from '../src/operations/operation.ts';
import { progressEvents } from '../src/operations/progress-events.ts';
import { repos } from '../src/operations/repos.ts';
import { tasks } from '../src/operations/tasks.ts';
import { topics } from '../src/operations/topics.ts';
import { workstreams } from '../src/operations/workstreams.ts';
import { createToken } from '../src/tokens.ts';
import { runCli } from './helpers/cli.ts';
import { useTestDatabase } from './helpers/database.ts';
import { freePort } from './helpers/nats-server.ts';
import { cli } from './helpers/start.ts';

const READ_TOOLS = ['get_next_steps', 'list_domains', 'get_domain_overview', 'list_workstreams', 'get_workstream', 'list_decisions', 'get_decision', 'get_repo_drift'];
const WRITE_TOOLS = ['resolve_decision', 'add_progress_event'];

/** Runs an operation as a transport would: input parsed by its schema first. */
async function run<I extends z.ZodObject>(db: Db, op: Operation<I>, input: z.input<I>): Promise<{ id: number; [k: string]: unknown }> {
  return (await op.run(op.input.parse(input), db, noSettings)) as { id: number };
}

interface Seed {
  workstream: { id: number; slug: string };
  task: number;
  decisions: { toResolve: number; resolved: number; open: number };
}

async function seed(db: Db, prefix: string): Promise<Seed> {
  await run(db, domains.create, { slug: `${prefix}-d`, name: 'Planning' });
  await run(db, domains.create, { slug: `${prefix}-quiet`, name: 'Nothing planned' });
  const topic = await run(db, topics.create, { slug: `${prefix}-t`, title: 'Events', domain_slug: `${prefix}-d` });
  const repo = await run(db, repos.create, { slug: `${prefix}-r`, domain_slug: `${prefix}-d` });
  const ws = await run(db, workstreams.create, { slug: `${prefix}-w`, title: 'NATS events', topic_id: topic.id, repo_id: repo.id, status: 'active' });
  const task = await run(db, tasks.create, { workstream_id: ws.id, title: 'Write the pump', status: 'blocked', status_reason: 'waiting on the stream' });
  await run(db, tasks.create, { workstream_id: ws.id, title: 'Document the catalog' });
  const toResolve = await run(db, decisions.create, { title: 'Which stream?', workstream_id: ws.id });
  const resolved = await run(db, decisions.create, { title: 'Which client?', workstream_id: ws.id });
  await run(db, decisions.resolve, { id: resolved.id, decided_by: 'team', rationale: 'classic client' });
  const open = await run(db, decisions.create, { title: 'Which retention?', topic_id: topic.id });
  await run(db, progressEvents.create, { workstream_id: ws.id, task_id: task.id, message: 'started' });
  return { workstream: { id: ws.id, slug: `${prefix}-w` }, task: task.id, decisions: { toResolve: toResolve.id, resolved: resolved.id, open: open.id } };
}

const textOf = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');

/** Calls a tool that must succeed; its structuredContent is checked against the listed outputSchema. */
async function callOk(client: Client, listed: Tool[], name: string, args: Record<string, unknown>): Promise<any> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  expect(result.isError ?? false, `${name}: ${textOf(result)}`).to.equal(false);
  const tool = listed.find((t) => t.name === name)!;
  const check = new AjvJsonSchemaValidator().getValidator(tool.outputSchema as never)(result.structuredContent);
  expect(check.valid, `${name}: ${check.errorMessage}`).to.equal(true);
  // The text rendering says the same as the structured content.
  expect(JSON.parse(textOf(result))).to.deep.equal(result.structuredContent);
  return result.structuredContent;
}

async function callFails(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  const text = textOf(result);
  expect(result.isError, `${name} ${JSON.stringify(args)}: ${text}`).to.equal(true);
  // One plain sentence: no SQL, no stack, no newline.
  expect(text).to.not.match(/\n|SELECT|INSERT|UPDATE statehub|\bat .*\.ts:\d+/);
  return text;
}

describe('MCP server', function () {
  this.timeout(60_000);
  const t = useTestDatabase();

  describe('over stdio: statehub mcp as a child process', () => {
    let client: Client;
    let transport: StdioClientTransport;
    let listed: Tool[];
    let s: Seed;
    let stderr = '';
    const protocolErrors: Error[] = [];

    before(async () => {
      s = await seed(t.db, 'stdio');
      transport = new StdioClientTransport({
        command: process.execPath,
        args: [cli, 'mcp'],
        // debug logs every query: all of it must go to stderr, none to the protocol on stdout.
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: t.url, LOG_LEVEL: 'debug' },
        stderr: 'pipe',
      });
      transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      client = new Client({ name: 'state-hub-test', version: '1.0.0' });
      client.onerror = (err) => protocolErrors.push(err);
      await client.connect(transport);
      listed = (await client.listTools()).tools;
    });
    after(async () => {
      await client?.close();
    });

    it('lists exactly the read tools and the sanctioned writes, each with a title, a description, schemas and annotations', () => {
      expect(listed.map((tool) => tool.name).sort()).to.deep.equal([...READ_TOOLS, ...WRITE_TOOLS].sort());
      for (const tool of listed) {
        expect(tool.title, tool.name).to.be.a('string').and.not.empty;
        expect(tool.description, tool.name).to.have.length.above(60);
        expect(tool.inputSchema.type, tool.name).to.equal('object');
        expect(tool.outputSchema?.type, tool.name).to.equal('object');
        const expected = WRITE_TOOLS.includes(tool.name)
          ? { readOnlyHint: false, destructiveHint: false, openWorldHint: false }
          : { readOnlyHint: true, openWorldHint: false };
        expect(tool.annotations, tool.name).to.deep.equal(expected);
      }
      const paged = listed.filter((tool) => 'cursor' in (tool.inputSchema.properties ?? {})).map((tool) => tool.name);
      expect(paged.sort()).to.deep.equal(['get_next_steps', 'list_decisions', 'list_domains', 'list_workstreams']);
    });

    it('every tool answers on real data, with structuredContent valid against its outputSchema and the same as JSON text', async () => {
      const steps = await callOk(client, listed, 'get_next_steps', { domain: 'stdio-d', limit: 10 });
      expect(steps.items.map((i: { kind: string; title: string }) => `${i.kind} ${i.title}`)).to.deep.equal([
        'task Write the pump',
        'decision Which stream?',
        'decision Which retention?',
        'task Document the catalog',
      ]);
      expect(steps.items[0]).to.include({ workstream_slug: 'stdio-w', repo_slug: 'stdio-r', domain_slug: 'stdio-d' });

      const first = await callOk(client, listed, 'list_domains', { limit: 1 });
      expect(first.items).to.have.length(1);
      expect(first.next_cursor).to.be.a('string');
      const rest = await callOk(client, listed, 'list_domains', { cursor: first.next_cursor });
      expect(rest.items.map((d: { slug: string }) => d.slug)).to.include('stdio-quiet').and.not.include(first.items[0].slug);
      // A model passes back the null of a last page as often as it leaves cursor out.
      expect((await callOk(client, listed, 'list_domains', { cursor: null })).items).to.have.length(2);

      const overview = await callOk(client, listed, 'get_domain_overview', { domain: 'stdio-d' });
      expect(overview.domain.slug).to.equal('stdio-d');
      expect(overview.workstreams_by_status.active.count).to.equal(1);
      expect(overview.open_decisions.map((d: { id: number }) => d.id)).to.have.members([s.decisions.toResolve, s.decisions.open]);

      const listedWs = await callOk(client, listed, 'list_workstreams', { repo: 'stdio-r', status: 'active' });
      expect(listedWs.items.map((w: { slug: string }) => w.slug)).to.deep.equal(['stdio-w']);
      expect(listedWs.next_cursor).to.equal(null);

      for (const key of [s.workstream.slug, s.workstream.id]) {
        const detail = await callOk(client, listed, 'get_workstream', { workstream: key });
        expect(detail.workstream.id).to.equal(s.workstream.id);
        expect(detail.tasks.map((x: { title: string }) => x.title)).to.deep.equal(['Write the pump', 'Document the catalog']);
        expect(detail.tasks_truncated).to.equal(false);
        expect(detail.open_decisions.map((d: { id: number }) => d.id)).to.deep.equal([s.decisions.toResolve]);
        expect(detail.latest_progress_events.map((p: { message: string }) => p.message)).to.deep.equal(['started']);
      }

      const resolvedList = await callOk(client, listed, 'list_decisions', { workstream: 'stdio-w', status: 'resolved' });
      expect(resolvedList.items.map((d: { id: number }) => d.id)).to.deep.equal([s.decisions.resolved]);
      const one = await callOk(client, listed, 'get_decision', { id: s.decisions.resolved });
      expect(one).to.include({ status: 'resolved', decided_by: 'team', rationale: 'classic client' });

      const resolved = await callOk(client, listed, 'resolve_decision', { decision_id: s.decisions.toResolve, decided_by: 'agent', rationale: 'one stream' });
      expect(resolved).to.include({ id: s.decisions.toResolve, status: 'resolved', decided_by: 'agent' });

      const bySlug = await callOk(client, listed, 'add_progress_event', { workstream: 'stdio-w', task_id: s.task, kind: 'review', message: 'reviewed' });
      expect(bySlug).to.include({ workstream_id: s.workstream.id, task_id: s.task, kind: 'review' });
      const byId = await callOk(client, listed, 'add_progress_event', { workstream: s.workstream.id, message: 'noted' });
      expect(byId).to.include({ workstream_id: s.workstream.id, kind: 'note' });
    });

    it('get_workstream shows at most 500 tasks and 100 open decisions, and says when there are more', async () => {
      const big = await run(t.db, workstreams.create, { slug: 'stdio-big', title: 'Big', topic_id: (await run(t.db, topics.get, { slug: 'stdio-t' })).id });
      await t.db.query(`INSERT INTO statehub.tasks (workstream_id, title) SELECT $1, 'task ' || i FROM generate_series(1, 501) i`, [big.id]);
      await t.db.query(`INSERT INTO statehub.decisions (workstream_id, title) SELECT $1, 'decision ' || i FROM generate_series(1, 101) i`, [big.id]);
      const detail = await callOk(client, listed, 'get_workstream', { workstream: 'stdio-big' });
      expect(detail.tasks).to.have.length(500);
      expect(detail.tasks[499].title).to.equal('task 500');
      expect(detail).to.include({ tasks_truncated: true, open_decisions_truncated: true });
      expect(detail.open_decisions).to.have.length(100);
      expect(detail.latest_progress_events).to.deep.equal([]);
      const small = await callOk(client, listed, 'get_workstream', { workstream: s.workstream.id });
      expect(small).to.include({ tasks_truncated: false, open_decisions_truncated: false });
    });

    it('an unknown id, a decision that is not open, a missing reference and bad input are isError results of one sentence', async () => {
      expect(await callFails(client, 'get_decision', { id: 987654 })).to.equal('decision 987654 does not exist');
      expect(await callFails(client, 'get_workstream', { workstream: 'no-such-ws' })).to.equal('workstream no-such-ws does not exist');
      expect(await callFails(client, 'get_domain_overview', { domain: 'nowhere' })).to.equal('domain nowhere does not exist');
      expect(await callFails(client, 'resolve_decision', { decision_id: s.decisions.resolved, decided_by: 'x', rationale: 'y' })).to.equal(
        `decision ${s.decisions.resolved} is resolved; only an open decision can be resolved`,
      );
      // Named by the tool's argument, not the operation's field (workstream_slug, workstream_id).
      expect(await callFails(client, 'add_progress_event', { workstream: 'no-such-ws', message: 'x' })).to.equal('workstream no-such-ws does not exist');
      expect(await callFails(client, 'add_progress_event', { workstream: 987654, message: 'x' })).to.equal('workstream 987654 does not exist');
      expect(await callFails(client, 'get_next_steps', { domain: 'nowhere' })).to.equal('domain nowhere does not exist');
      expect(await callFails(client, 'resolve_decision', { decision_id: 987654, decided_by: 'x', rationale: 'y' })).to.equal('decision 987654 does not exist');
      expect(await callFails(client, 'add_progress_event', { task_id: 987654, message: 'x' })).to.equal('task_id 987654 does not exist');
      expect(await callFails(client, 'add_progress_event', { message: 'about nothing' })).to.equal('a progress event must name the work it is about: give a workstream, a task, or both');
      expect(await callFails(client, 'list_workstreams', { cursor: 'bogus' })).to.equal('cursor is not one this API issued');
      // Bad arguments: one sentence naming each bad one, however many.
      expect(await callFails(client, 'list_workstreams', { limit: 501, status: 'done', colour: 'red' })).to.match(
        /^the arguments are not valid: (?=.*limit: Too big)(?=.*status: Invalid option)(?=.*colour: unknown argument)/,
      );
      expect(await callFails(client, 'get_decision', { id: 'one' })).to.match(/^the arguments are not valid: id: /);
      expect(await callFails(client, 'get_decision', {})).to.match(/^the arguments are not valid: id: /);
      expect(await callFails(client, 'get_workstream', { workstream: true })).to.equal(
        'the arguments are not valid: workstream: expected an id (a positive whole number) or a slug',
      );
      expect(await callFails(client, 'add_progress_event', { workstream: s.workstream.id, message: '   ' })).to.match(/^the arguments are not valid: message: /);
      // An unknown tool is a protocol error.
      const unknown = await client.callTool({ name: 'delete_decision', arguments: { id: 1 } }).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(unknown?.message).to.match(/no tool is named delete_decision/);
    });

    it('keeps stdout for the protocol: the debug log went to stderr and the client saw no stray output', () => {
      expect(protocolErrors.map((e) => e.message)).to.deep.equal([]);
      expect(stderr).to.include('"message":"query"');
      expect(stderr).to.include('"message":"mcp serving on stdio"');
      // One line per call, naming the tool, never its arguments.
      const calls = stderr.split('\n').filter((l) => l.includes('"message":"tool call"'));
      expect(calls.some((l) => l.includes('"tool":"resolve_decision"'))).to.equal(true);
      expect(stderr).to.not.include('one stream');
    });

    it('exits 0 once its stdin closes, having written only protocol messages on stdout', async () => {
      const child = spawn(process.execPath, [cli, 'mcp'], { env: { PATH: process.env.PATH, DATABASE_URL: t.url, LOG_LEVEL: 'debug' } });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
      child.stdin.write(`${JSON.stringify(initialize)}\n`);
      for (const deadline = Date.now() + 15_000; !stdout.includes('\n'); ) {
        if (Date.now() > deadline) throw new Error('no answer to initialize within 15 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      expect(code, 'exit code (null: still running 10 s after stdin closed, killed)').to.equal(0);
      const lines = stdout.trim().split('\n');
      expect(lines).to.have.length(1);
      expect(JSON.parse(lines[0]!)).to.include({ jsonrpc: '2.0', id: 1 }).and.to.have.property('result');
    });
  });

  describe('over Streamable HTTP: POST /mcp on the API', () => {
    let api: RunningApi;
    let openApi: RunningApi;
    let s: Seed;
    let readSecret: string;
    let writeSecret: string;
    const clients: Client[] = [];

    before(async () => {
      s = await seed(t.db, 'http');
      readSecret = (await createToken(t.db, { name: 'mcp-reader', scope: 'read' })).secret;
      writeSecret = (await createToken(t.db, { name: 'mcp-writer', scope: 'write' })).secret;
      api = await listenApi(t.db, silentLogger(), '127.0.0.1', 0, { access: { auth: 'token', allowedOrigins: [], allowedHosts: [] } });
      openApi = await listenApi(t.db, silentLogger(), '127.0.0.1', 0, { access: { auth: 'none', allowedOrigins: [], allowedHosts: [] } });
    });
    after(async () => {
      for (const c of clients) await c.close();
      await api?.close();
      await openApi?.close();
    });

    async function connect(port: number, secret?: string): Promise<{ client: Client; listed: Tool[] }> {
      const headers: Record<string, string> = secret ? { authorization: `Bearer ${secret}` } : {};
      const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers } });
      const client = new Client({ name: 'state-hub-test', version: '1.0.0' });
      await client.connect(transport);
      clients.push(client);
      return { client, listed: (await client.listTools()).tools };
    }

    const resolvedEvents = async (decisionId: number) =>
      (
        await t.db.query(`SELECT attributes FROM statehub.outbox WHERE subject = 'org.statehub.decision.resolved' AND (attributes->>'decision_id')::bigint = $1`, [
          decisionId,
        ])
      ).rows;

    it('a read token sees only the read tools, may call them, and cannot call resolve_decision', async () => {
      const { client, listed } = await connect(api.port, readSecret);
      expect(listed.map((tool) => tool.name).sort()).to.deep.equal([...READ_TOOLS].sort());
      const steps = await callOk(client, listed, 'get_next_steps', { domain: 'http-d' });
      expect(steps.items).to.have.length(4);
      const refused = await callFails(client, 'resolve_decision', { decision_id: s.decisions.toResolve, decided_by: 'x', rationale: 'y' });
      expect(refused).to.equal('resolve_decision changes the hub: it needs a token with scope write, and this one has scope read');
      expect(await callFails(client, 'add_progress_event', { workstream: 'http-w', message: 'x' })).to.match(/^add_progress_event changes the hub/);
      expect((await t.db.query('SELECT status FROM statehub.decisions WHERE id = $1', [s.decisions.toResolve])).rows[0]!.status).to.equal('open');
      expect(await resolvedEvents(s.decisions.toResolve)).to.deep.equal([]);
    });

    it('a write token sees every tool; resolving over MCP puts exactly one decision.resolved event in the outbox', async () => {
      const { client, listed } = await connect(api.port, writeSecret);
      expect(listed.map((tool) => tool.name).sort()).to.deep.equal([...READ_TOOLS, ...WRITE_TOOLS].sort());
      await callOk(client, listed, 'resolve_decision', { decision_id: s.decisions.toResolve, decided_by: 'agent', rationale: 'the one stream' });
      const events = await resolvedEvents(s.decisions.toResolve);
      expect(events).to.have.length(1);
      expect(events[0]!.attributes).to.include({ decision_id: s.decisions.toResolve, decided_by: 'agent', rationale_snippet: 'the one stream' });
      await callFails(client, 'resolve_decision', { decision_id: s.decisions.toResolve, decided_by: 'agent', rationale: 'again' });
      expect(await resolvedEvents(s.decisions.toResolve)).to.have.length(1);
    });

    it('without a valid token the endpoint answers 401 with a bearer challenge; GET answers 405', async () => {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
      const none = await fetch(`http://127.0.0.1:${api.port}/mcp`, { method: 'POST', headers, body });
      expect(none.status).to.equal(401);
      expect(none.headers.get('www-authenticate')).to.match(/^Bearer /);
      const bad = await fetch(`http://127.0.0.1:${api.port}/mcp`, { method: 'POST', headers: { ...headers, authorization: 'Bearer shub_nope' }, body });
      expect(bad.status).to.equal(401);
      for (const method of ['GET', 'DELETE']) {
        const other = await fetch(`http://127.0.0.1:${api.port}/mcp`, { method, headers: { authorization: `Bearer ${readSecret}` } });
        expect(other.status, method).to.equal(405);
        expect(other.headers.get('allow')).to.equal('POST, OPTIONS');
      }
      // One message per request: a batch is refused before any of it runs.
      const batch = await fetch(`http://127.0.0.1:${api.port}/mcp`, {
        method: 'POST',
        headers: { ...headers, authorization: `Bearer ${writeSecret}` },
        body: JSON.stringify([1, 2].map((id) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'add_progress_event', arguments: { message: 'batched' } } }))),
      });
      expect(batch.status).to.equal(400);
      expect((await batch.json()).error.message).to.match(/batches are not accepted/);
      expect((await t.db.query(`SELECT count(*)::int AS n FROM statehub.progress_events WHERE message = 'batched'`)).rows[0]!.n).to.equal(0);
    });

    it('with API_AUTH=none on loopback every tool is open; a foreign Host (DNS rebinding) or a foreign page Origin is refused', async () => {
      const { client, listed } = await connect(openApi.port);
      expect(listed.map((tool) => tool.name).sort()).to.deep.equal([...READ_TOOLS, ...WRITE_TOOLS].sort());
      await callOk(client, listed, 'add_progress_event', { workstream: 'http-w', message: 'over open MCP' });
      const { request } = await import('node:http');
      const post = (headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) => {
          const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
          const req = request(
            {
              host: '127.0.0.1',
              port: openApi.port,
              method: 'POST',
              path: '/mcp',
              headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': String(Buffer.byteLength(body)), ...headers },
            },
            (res) => {
              res.resume();
              resolve(res.statusCode!);
            },
          );
          req.once('error', reject);
          req.end(body);
        });
      expect(await post({ host: `127.0.0.1:${openApi.port}` })).to.equal(200);
      expect(await post({ host: 'rebound.example' })).to.equal(421);
      expect(await post({ host: `127.0.0.1:${openApi.port}`, origin: 'https://evil.example' })).to.equal(403);
    });
  });

  describe('statehub mcp without its database', () => {
    it('exits 2 with one line when DATABASE_URL is unset, and writes nothing on stdout', async () => {
      const r = await runCli(['mcp'], { PATH: process.env.PATH });
      expect(r.code).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr.trim().split('\n')).to.have.length(1).and.to.match(/DATABASE_URL is not set/);
    });

    it('answers a tool call with an isError result saying the database is unavailable', async () => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [cli, 'mcp'],
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: `postgres://statehub@127.0.0.1:${await freePort()}/statehub`, LOG_LEVEL: 'error' },
        stderr: 'pipe',
      });
      const client = new Client({ name: 'state-hub-test', version: '1.0.0' });
      await client.connect(transport);
      try {
        await client.listTools();
        expect(await callFails(client, 'list_domains', {})).to.equal('the database is unavailable');
      } finally {
        await client.close();
      }
    });
  });
});
