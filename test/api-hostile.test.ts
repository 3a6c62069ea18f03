// Clients that misbehave at the HTTP level: a body cut off mid-way, a request target the router
// cannot parse, a flood of idle connections. None of it is a server fault (no 5xx, no error
// logged), and every answer is problem+json and logged.
import { connect, type Socket } from 'node:net';
import { expect } from 'chai';
import { listenApi, type RunningApi } from '../src/api/server.ts';
import { useTestDatabase } from './helpers/database.ts';
import { capturingLogger } from './helpers/log.ts';

/** Resolves once `check` holds, polling every 10 ms; fails after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Sends raw bytes and resolves with all the server answered before it closed the connection. */
function exchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(raw));
    let data = '';
    socket.on('data', (d) => (data += d.toString()));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

describe('HTTP API: hostile clients', function () {
  const t = useTestDatabase();
  let api: RunningApi;
  let lines: string[];
  const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  before(async () => {
    const captured = capturingLogger('info');
    lines = captured.lines;
    api = await listenApi(t.db, captured.log, '127.0.0.1', 0, { maxConnections: 20 });
  });
  after(async () => {
    await api?.close();
  });
  beforeEach(() => lines.splice(0));

  it('a client that hangs up in the middle of its body is logged at info, never as a server error', async () => {
    const arrived = new Promise((resolve) => api.server.once('request', resolve));
    const socket = connect(api.port, '127.0.0.1', () =>
      socket.write('POST /domains HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"slug": "cut-'),
    );
    await arrived;
    socket.destroy();
    await until('the request to be logged', () => logged().some((l) => l.message === 'request' && l.path === '/domains'));
    const request = logged().find((l) => l.message === 'request')!;
    expect(request).to.include({ level: 'info', method: 'POST', path: '/domains', aborted: true });
    expect(request.status as number).to.be.below(500);
    expect(logged().filter((l) => l.level === 'error')).to.deep.equal([]);
    expect((await t.db.query("SELECT 1 FROM statehub.domains WHERE slug LIKE 'cut-%'")).rowCount).to.equal(0);
  });

  it('a request target the router cannot parse gets a problem+json 400, and is logged', async () => {
    for (const target of ['http://[zz/healthz', 'http://[zz/domains', 'http://[::1/domains']) {
      const answer = await exchange(api.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      const [head, body] = answer.split('\r\n\r\n');
      expect(head, target).to.match(/^HTTP\/1\.1 400 /);
      expect(head, target).to.match(/content-type: application\/problem\+json/i);
      expect(JSON.parse(body!), target).to.deep.include({ status: 400, detail: 'the request target is not a valid URL' });
    }
    await until('three requests to be logged', () => logged().filter((l) => l.message === 'request').length === 3);
    expect(logged().map((l) => [l.message, l.path, l.status])).to.deep.equal(Array(3).fill(['request', '(not a valid URL)', 400]));
  });

  it('holds at most maxConnections client connections: one more is closed unanswered, and the API answers again once one goes', async () => {
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const socket = connect(api.port, '127.0.0.1');
        socket.on('error', () => undefined);
        idle.push(socket);
      }
      const open = () => new Promise<number>((resolve, reject) => api.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
      await until('20 connections to be accepted', async () => (await open()) === 20);
      const refused = await exchange(api.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n').catch((err: Error) => err.message);
      expect(refused).to.not.match(/^HTTP/);
      idle.pop()!.destroy();
      await until('a connection to be freed', async () => (await open()) < 20);
      expect(await exchange(api.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).to.match(/^HTTP\/1\.1 200 /);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });
});
