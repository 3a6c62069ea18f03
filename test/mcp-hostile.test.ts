// MCP clients that send what the protocol does not allow: malformed tools/call params, bodies
// that are no JSON-RPC message, lines on stdin that are not JSON or too long. Each gets a
// JSON-RPC error of one sentence, or a logged end of the session; never a silent exit.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { MAX_BODY_BYTES } from '../src/api/body.ts';
import { listenApi, type RunningApi } from '../src/api/server.ts';
import { silentLogger } from '../src/logger.ts';
import { useTestDatabase } from './helpers/database.ts';
import { cli } from './helpers/start.ts';

const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

describe('MCP server: hostile clients', function () {
  this.timeout(60_000);
  const t = useTestDatabase();

  describe('over HTTP', () => {
    let api: RunningApi;
    before(async () => {
      api = await listenApi(t.db, silentLogger(), '127.0.0.1', 0, { access: { auth: 'none', allowedOrigins: [], allowedHosts: [] } });
    });
    after(async () => {
      await api?.close();
    });
    const post = async (body: string) => {
      const res = await fetch(`http://127.0.0.1:${api.port}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body,
      });
      return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as { error?: { code: number; message: string }; result?: unknown } };
    };

    it('tools/call with params that are missing or of the wrong shape is -32602 with one sentence', async () => {
      const cases: Array<[string, unknown, string]> = [
        ['no params', undefined, 'tools/call needs params: {"name": "<tool>", "arguments": {…}}'],
        ['a name that is a number', { name: 5 }, 'params.name must be the name of a tool (a string); tools/list names them'],
        ['arguments that are a list', { name: 'list_domains', arguments: [] }, "params.arguments must be an object of the tool's arguments"],
      ];
      for (const [what, params, sentence] of cases) {
        const reply = await post(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', ...(params === undefined ? {} : { params }) }));
        expect(reply.body.error?.code, `${what}: ${JSON.stringify(reply.body)}`).to.equal(-32602);
        expect(reply.body.error?.message, what).to.equal(`MCP error -32602: ${sentence}`);
      }
      const fine = await post(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'list_domains', arguments: {} } }));
      expect(fine.body).to.have.property('result');
    });

    it('a body that is not JSON is -32700, and JSON that is no JSON-RPC message (null, 42, "x", {}) is -32600, both as JSON-RPC', async () => {
      const noMessage = [{}, { jsonrpc: '1.0', id: 1, method: 'tools/list' }, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: null }].map((m) => [JSON.stringify(m), -32600] as const);
      for (const [body, code] of [['{"jsonrpc": "2.0",', -32700], ['not json', -32700], ['null', -32600], ['42', -32600], ['"x"', -32600], ...noMessage] as const) {
        const reply = await post(body);
        expect([reply.status, reply.type, reply.body.error?.code], body).to.deep.equal([400, 'application/json; charset=utf-8', code]);
        expect(reply.body.error!.message, body).to.not.include('\n');
      }
    });
  });

  describe('over stdio', () => {
    function start() {
      const child = spawn(process.execPath, [cli, 'mcp'], { env: { PATH: process.env.PATH, DATABASE_URL: t.url, LOG_LEVEL: 'debug' } });
      const out = { stdout: '', stderr: '' };
      child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
      child.stdin.on('error', () => undefined);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      /** Resolves once stdout holds `n` answers. */
      const answers = async (n: number) => {
        for (const deadline = Date.now() + 15_000; out.stdout.split('\n').length <= n; ) {
          if (Date.now() > deadline) throw new Error(`fewer than ${n} answers within 15 s: ${out.stdout}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        return out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number });
      };
      return { child, out, exited, answers };
    }

    it('drops lines that are not JSON-RPC messages, logging them at debug, and answers the next message', async () => {
      const { child, out, exited, answers } = start();
      child.stdin.write(`${JSON.stringify(initialize)}\n`);
      await answers(1);
      child.stdin.write('hello\n{"not": "json-rpc"}\n');
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' })}\n`);
      expect((await answers(2)).map((a) => a.id)).to.deep.equal([1, 2]);
      child.stdin.end();
      expect(await exited).to.equal(0);
      const ignored = out.stderr.split('\n').filter((l) => l.includes('"message":"ignored lines on stdin that are not JSON-RPC messages"'));
      expect(ignored.length).to.be.at.least(1);
      expect(JSON.parse(ignored[0]!)).to.include({ level: 'debug', lines: 1, last: 'not JSON' });
    });

    it('ends the session on a line longer than 1 MiB: it says so on stderr, closes the pool and exits 1', async () => {
      const { child, out, exited, answers } = start();
      child.stdin.write(`${JSON.stringify(initialize)}\n`);
      await answers(1);
      child.stdin.write('x'.repeat(MAX_BODY_BYTES + 1));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      expect(code, 'exit code (null: killed, still running 15 s after the line)').to.equal(1);
      const logged = out.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(logged.find((l) => l.message === 'mcp transport failed')).to.deep.include({ level: 'error', error: `ReadBuffer exceeded maximum size of ${MAX_BODY_BYTES} bytes` });
      expect(logged.map((l) => l.message)).to.include.members(['shutting down', 'stopped']);
    });
  });
});
