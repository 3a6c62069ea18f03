// The README's quick start: `statehub start` with no DATABASE_URL and no NATS_URL boots an
// embedded PostgreSQL and, nats-server being installed, a private JetStream server; the five
// transitions made through the API reach `statehub events tail --since-start`; psql connects
// with the banner's line; SIGTERM stops all of it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { Client } from './helpers/http.ts';
import { banner, cleanUp, makeDataDir, root, spawnCli, runStart, serversOf, cli, type StartedCli } from './helpers/start.ts';
import { alive } from '../src/start/pid-file.ts';

const exec = promisify(execFile);
const TYPES = ['repo.registered', 'workstream.completed', 'decision.resolved', 'domain.goal.activated', 'task.stale'].map((t) => `org.statehub.${t}`);

describe('statehub start (embedded PostgreSQL, private nats-server)', function () {
  this.timeout(120_000);
  let dataDir: string;
  let start: StartedCli | undefined;
  let tail: StartedCli | undefined;

  let base: string;

  before(async () => {
    // As on a fresh clone: the data dir does not exist yet; start creates it.
    base = await makeDataDir();
    dataDir = path.join(base, '.statehub');
  });
  after(async () => {
    await cleanUp(dataDir, start, tail);
    await rm(base, { recursive: true, force: true });
  });

  it('shows the five events end to end, psql connects with the banner line, and SIGTERM stops everything with exit 0', async function () {
    // Settings meant for a NATS_URL: the private server takes none (with this CA the pump would
    // insist on TLS and never connect).
    start = runStart(dataDir, { NATS_TLS_CA: path.join(root, 'package.json') });
    const shown = await banner(start);
    expect(shown.nats, start.output()).to.match(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const servers = await serverIds();
    const api = new Client(shown.api);
    expect((await api.get('/readyz')).status).to.equal(200);

    // The banner's psql line works as printed, and the password is nowhere in the output.
    const { stdout: who } = await exec('psql', [shown.psql, '-Atc', 'SELECT current_user']);
    expect(who.trim()).to.equal('statehub');
    const password = (await readFile(path.join(dataDir, 'pgpass'), 'utf8')).trim().split(':').at(-1)!;
    expect(password).to.have.length.above(20);
    expect(start.output()).not.to.include(password);

    // The README's "Verify end to end", through the API.
    const call = async (method: string, url: string, body?: unknown) => {
      const reply = await api.request(method, url, body);
      expect(reply.status, `${method} ${url}: ${JSON.stringify(reply.body)}`).to.be.within(200, 299);
      return reply.body;
    };
    await call('POST', '/domains', { slug: 'demo', name: 'Demo domain' });
    const topic = await call('POST', '/topics', { slug: 'demo-topic', title: 'Demo topic' });
    const repo = await call('POST', '/repos/', { slug: 'demo-repo', domain_slug: 'demo', remote_url: 'https://git.example.org/demo-repo.git' });
    const ws = await call('POST', '/workstreams', { slug: 'demo-ws', title: 'Demo workstream', topic_id: topic.id, repo_id: repo.id, status: 'active' });
    await call('POST', '/tasks', { workstream_id: ws.id, title: 'Left-over task' });
    await call('PATCH', `/workstreams/${ws.id}`, { status: 'completed' });
    const decision = await call('POST', '/decisions', { title: 'Use JetStream for events', topic_id: topic.id });
    await call('POST', `/decisions/${decision.id}/resolve`, { decided_by: 'alice', rationale: 'Durable.' });
    const goal = await call('POST', '/domain-goals', { domain_slug: 'demo', title: 'First goal' });
    await call('POST', `/domain-goals/${goal.id}/activate`);
    // The stale-task rule through the CLI, with the banner's URL as DATABASE_URL: statehub reads
    // its passfile parameter as psql does.
    const stale = await exec(process.execPath, [cli, 'cleanup-stale-tasks'], {
      cwd: root,
      env: { PATH: process.env.PATH, DATABASE_URL: shown.psql, LOG_LEVEL: 'warn' },
    });
    expect(stale.stdout).to.match(/cancelled 1 stale task/);
    expect(stale.stderr).not.to.match(/deprecat/i);

    // Started after the events: --since-start prints what the stream already holds.
    tail = spawnCli(['events', 'tail', '--since-start'], { PATH: process.env.PATH, NATS_URL: shown.nats, LOG_LEVEL: 'warn' });
    for (const type of TYPES) await tail.waitFor(new RegExp(`"type":"${type.replace(/\./g, '\\.')}"`), 20_000);
    tail.proc.kill('SIGINT');
    expect(await tail.exited, tail.output()).to.equal(0);

    start.proc.kill('SIGTERM');
    expect(await start.exited, start.output()).to.equal(0);
    // Nothing answers on the API port; postgres and nats-server are gone.
    expect(await fetch(`${shown.api}/healthz`).then(() => false, () => true)).to.equal(true);
    expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).to.equal(false);
    expect(alive(servers.postgres)).to.equal(false);
    expect(alive(servers.nats)).to.equal(false);
  });

  async function serverIds(): Promise<{ postgres: number; nats: number }> {
    const { postgres, nats } = await serversOf(dataDir);
    expect(postgres, 'a live postgres for the data dir').to.be.a('number');
    expect(nats, 'a live nats-server for the data dir').to.be.a('number');
    return { postgres: postgres!, nats: nats! };
  }
});
