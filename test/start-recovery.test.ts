// `statehub start` after things went wrong: a start killed with SIGKILL (its servers live on),
// a stale postmaster.pid, a first start interrupted during initialisation, a cluster without
// the statehub database. Real processes throughout; every server is stopped by pid afterwards.
import { execFile, spawn } from 'node:child_process';
import { chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { postgresBinaries, postgresRunAs } from '../src/start/embedded-init.ts';
import { Client } from './helpers/http.ts';
import { banner, cleanUp, makeDataDir, runStart, serversOf, waitGone, type StartedCli } from './helpers/start.ts';
import { alive } from '../src/start/pid-file.ts';

const exec = promisify(execFile);

describe('statehub start, recovering from an earlier start', function () {
  this.timeout(120_000);
  let dataDir: string;
  let started: StartedCli[] = [];

  beforeEach(async () => {
    dataDir = await makeDataDir();
    started = [];
  });
  afterEach(async () => {
    await cleanUp(dataDir, ...started);
  });

  function start(extra: Record<string, string> = {}): StartedCli {
    const s = runStart(dataDir, extra);
    started.push(s);
    return s;
  }

  /** Starts, checks the API answers, and stops with SIGTERM (exit 0); returns the banner. */
  async function startAndStop(check?: (api: Client) => Promise<unknown>) {
    const s = start();
    const shown = await banner(s);
    const api = new Client(shown.api);
    expect((await api.get('/readyz')).status).to.equal(200);
    await check?.(api);
    s.proc.kill('SIGTERM');
    expect(await s.exited, s.output()).to.equal(0);
    return shown;
  }

  it('after a SIGKILL, the next start exits 1 at once naming the live postgres (then nats-server) by pid and data dir; once they are stopped the data is kept', async function () {
    const first = start();
    const api = new Client((await banner(first)).api);
    expect((await api.post('/domains', { slug: 'kept', name: 'Kept' })).status).to.equal(201);
    const { postgres, nats } = await serversOf(dataDir);
    first.proc.kill('SIGKILL');
    await first.exited;
    // Nobody stops the orphans: they outlive the killed start.
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(postgres!) && alive(nats!)).to.equal(true);

    const began = Date.now();
    const second = start();
    expect(await second.exited, second.output()).to.equal(1);
    expect(Date.now() - began).to.be.below(10_000);
    expect(second.output()).to.include(`PostgreSQL (pid ${postgres})`).and.include(path.join(dataDir, 'pg')).and.include(`kill ${postgres}`);

    process.kill(postgres!, 'SIGINT');
    await waitGone(postgres!);
    const third = start();
    expect(await third.exited, third.output()).to.equal(1);
    expect(third.output()).to.include(`nats-server (pid ${nats})`).and.include(path.join(dataDir, 'nats'));

    process.kill(nats!, 'SIGTERM');
    await waitGone(nats!);
    await startAndStop(async (again) => expect((await again.get('/domains/kept')).status).to.equal(200));
  });

  it('a stale postmaster.pid does not stop start: its process gone, or its pid reused by another process of the postgres user', async function () {
    await startAndStop();
    const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');

    const gone = spawn('true');
    await new Promise((r) => gone.once('exit', r));
    await writeFile(pidFile, `${gone.pid}\n${path.join(dataDir, 'pg')}\n`);
    await startAndStop();

    // PostgreSQL alone refuses this one: the pid is alive (a sleep, not a postmaster).
    const sleeper = spawn('sleep', ['60'], { ...(await postgresRunAs()), stdio: 'ignore' });
    try {
      await writeFile(pidFile, `${sleeper.pid}\n${path.join(dataDir, 'pg')}\n`);
      await startAndStop();
    } finally {
      sleeper.kill();
    }
  });

  it('a first start stopped by Ctrl-C during initialisation exits 0, and the next one initialises from scratch despite a leftover temporary dir', async function () {
    const first = start({ LOG_LEVEL: 'info' });
    await first.waitFor(/initialising embedded PostgreSQL/);
    first.proc.kill('SIGINT');
    expect(await first.exited, first.output()).to.equal(0);
    // Whatever the interrupted initdb left, a half-written temporary dir is what a crash leaves.
    await mkdir(path.join(dataDir, 'pg.initialising'), { recursive: true });
    await writeFile(path.join(dataDir, 'pg.initialising', 'PG_VERSION'), 'half written\n');

    await startAndStop(async (api) => expect((await api.post('/domains', { slug: 'fresh', name: 'Fresh' })).status).to.equal(201));
    expect(existsSync(path.join(dataDir, 'pg.initialising'))).to.equal(false);
    expect((await stat(path.join(dataDir, 'pgpass'))).mode & 0o777).to.equal(0o600);
  });

  it('a cluster without the statehub database and without a password file (made by the old code) starts: database created, password file written', async function () {
    // What an old first start left when interrupted right after initdb: the old fixed password.
    const [bins, runAs] = await Promise.all([postgresBinaries(), postgresRunAs()]);
    const pg = path.join(dataDir, 'pg');
    const pwfile = path.join(dataDir, 'pw');
    await mkdir(pg, { mode: 0o700 });
    await writeFile(pwfile, 'statehub-local\n');
    if ('uid' in runAs) await Promise.all([chown(pg, runAs.uid, runAs.gid), chown(pwfile, runAs.uid, runAs.gid)]);
    await exec(bins.initdb, [`--pgdata=${pg}`, '--auth=scram-sha-256', '--username=statehub', `--pwfile=${pwfile}`], runAs);

    const shown = await startAndStop(async (api) => expect((await api.post('/domains', { slug: 'old', name: 'Old' })).status).to.equal(201));
    expect((await readFile(path.join(dataDir, 'pgpass'), 'utf8')).trim()).to.equal('127.0.0.1:*:statehub:statehub:statehub-local');
    expect(shown.psql).to.include(`passfile=${path.join(dataDir, 'pgpass')}`);
  });

  it('a second Ctrl-C, which exits at once, still takes PostgreSQL and nats-server down with it', async function () {
    const s = start({ LOG_LEVEL: 'info' });
    await banner(s);
    const { postgres, nats } = await serversOf(dataDir);
    s.proc.kill('SIGINT');
    // The second arrives while the orderly stop (pump first, servers last) is still running.
    await s.waitFor(/"message":"shutting down"/);
    s.proc.kill('SIGINT');
    expect(await s.exited, s.output()).to.equal(1);
    await waitGone(postgres!);
    await waitGone(nats!);
    // And the next start is not refused.
    await startAndStop();
  });
});
