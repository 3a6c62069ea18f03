// The README's quick start: `statehub start` with no DATABASE_URL boots an embedded PostgreSQL,
// migrates, serves the API and runs the pump, and stops all of it on SIGTERM.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

function waitForOutput(proc: ChildProcess, pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms; output:\n${seen}`)), ms);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
  });
}

describe('statehub start (embedded PostgreSQL)', function () {
  this.timeout(120_000);
  let dataDir: string;
  let proc: ChildProcess | undefined;

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'statehub-start-'));
    // As root, PostgreSQL runs as the postgres user, which must be able to reach its data.
    await chmod(dataDir, 0o755);
  });
  after(async () => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves the API on its embedded database and stops everything on SIGTERM with exit 0', async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', PUMP_METRICS_PORT: '0', STATEHUB_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    proc = spawn(process.execPath, ['bin/statehub.js', 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const [, port] = await waitForOutput(proc, /API\s+http:\/\/127\.0\.0\.1:(\d+)/, 90_000);
    const base = `http://127.0.0.1:${port}`;

    expect((await fetch(`${base}/readyz`)).status).to.equal(200);
    const created = await fetch(`${base}/domains`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'quick', name: 'Quick start' }),
    });
    expect(created.status).to.equal(201);

    const exited = new Promise<number | null>((resolve) => proc!.once('exit', resolve));
    proc.kill('SIGTERM');
    expect(await exited).to.equal(0);
    // The embedded server went down with it: nothing answers on the API port, and its
    // postmaster.pid is gone from the data directory.
    const refused = await fetch(`${base}/healthz`).then(() => false, () => true);
    expect(refused).to.equal(true);
    expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).to.equal(false);
  });
});
