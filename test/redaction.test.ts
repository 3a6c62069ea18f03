// `statehub start`, `statehub migrate` and `statehub pump` with a password in DATABASE_URL (as
// user:password@ and as ?password=) and user:password@ in NATS_URL (a nats-server that requires
// them; the password holds an @): no secret, nor any piece of one, appears anywhere in stdout or
// stderr, at debug level, on success and on the failure paths; the redacted forms do. The
// credentials in NATS_URL are the ones the pump authenticates with.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { runCli } from './helpers/cli.ts';
import { ADMIN_URL, createTestDatabase, databaseUrl, type TestDatabase } from './helpers/database.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { spawnPump, waitFor, type PumpProcess } from './helpers/pump.ts';
import { spawnCli, type StartedCli } from './helpers/start.ts';

describe('credentials in DATABASE_URL and NATS_URL never reach the output', function () {
  this.timeout(60_000);
  const secret = () => randomBytes(12).toString('hex');
  const natsUser = 'statehub-test';
  // An @ inside the password: everything up to the URL's last @ is userinfo, all of it secret.
  const natsPassword = `${secret()}@${secret()}`;
  // The shared cluster trusts 127.0.0.1, so any password does; a server that checks them gets its own.
  const dbPassword = decodeURIComponent(new URL(ADMIN_URL).password) || secret();
  let nats: NatsServer;
  let db: TestDatabase;
  let failed = false;
  const running: Array<StartedCli | PumpProcess> = [];

  before(async function () {
    nats = await startNatsServer(['--user', natsUser, '--pass', natsPassword]);
    db = await createTestDatabase({ migrated: false });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') failed = true;
    for (const r of running.splice(0)) {
      const proc = 'proc' in r ? r.proc : r.child;
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await r.exited;
    }
  });
  after(async function () {
    await nats?.close();
    if (failed) console.error(`    kept test database ${db.name} for inspection`);
    else await db?.drop();
  });

  const withPassword = (url: string, password: string) => {
    const u = new URL(url);
    u.password = encodeURIComponent(password);
    return u.toString();
  };
  const hostOf = (url: string) => new URL(url).host;
  const env = () => ({
    DATABASE_URL: withPassword(db.url, dbPassword),
    NATS_URL: `nats://${natsUser}:${natsPassword}@${hostOf(nats.url)}`,
  });
  const redactedNats = () => `nats://***@${hostOf(nats.url)}`;

  /** Neither the secrets nor any @-separated piece of them, raw or URL-encoded. */
  function expectNoSecrets(output: string, ...secrets: string[]): void {
    const pieces = [dbPassword, natsPassword, ...secrets].flatMap((s) => [s, ...s.split('@')]).flatMap((s) => [s, encodeURIComponent(s)]);
    for (const piece of pieces) expect(output.includes(piece), `"${piece}" in the output:\n${output}`).to.equal(false);
  }

  it('statehub start: the banner shows both URLs redacted, and nothing it prints carries a secret', async function () {
    const asParameter = new URL(db.url);
    asParameter.searchParams.set('password', dbPassword);
    const forms = [
      { DATABASE_URL: withPassword(db.url, dbPassword), shown: withPassword(db.url, '***') },
      { DATABASE_URL: asParameter.toString(), shown: `${db.url}?password=***` },
    ];
    for (const { DATABASE_URL, shown } of forms) {
      const start = spawnCli(['start'], {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: '0',
        PUMP_METRICS_PORT: '0',
        STATEHUB_DATA_DIR: path.join(tmpdir(), `statehub-unused-${randomBytes(4).toString('hex')}`),
        LOG_LEVEL: 'debug',
        ...env(),
        DATABASE_URL,
      });
      running.push(start);
      await start.waitFor(/Ctrl-C stops everything/);
      // The pump authenticated with the URL's credentials: it is ready only once NATS answered.
      await start.waitFor(/"message":"pump ready","nats":true/, 20_000);
      start.proc.kill('SIGTERM');
      expect(await start.exited, start.output()).to.equal(0);
      const output = start.output();
      expect(output).to.include(`database  ${shown}\n`).and.include(`NATS      ${redactedNats()}\n`);
      expectNoSecrets(output);
    }
  });

  it('statehub migrate and statehub pump: nothing printed carries a secret, when connecting works and when it fails', async function () {
    const migrated = await runCli(['migrate'], { PATH: process.env.PATH, LOG_LEVEL: 'debug', ...env() });
    expect(migrated.code, migrated.stderr).to.equal(0);
    expectNoSecrets(migrated.stdout + migrated.stderr);

    const pump = spawnPump({ LOG_LEVEL: 'debug', ...env() });
    running.push(pump);
    await waitFor('the pump to be ready with NATS', () => pump.output().includes('"message":"pump ready","nats":true'), 20_000);
    pump.kill('SIGTERM');
    expect(await pump.exited, pump.output()).to.equal(0);
    expectNoSecrets(pump.output());

    // NATS refuses a wrong password: the retry line names the server, redacted.
    const wrong = secret();
    const refused = spawnPump({ LOG_LEVEL: 'debug', ...env(), NATS_URL: `nats://${natsUser}:${wrong}@${hostOf(nats.url)}` });
    running.push(refused);
    await waitFor('the NATS failure to be logged', () => /NATS at \S+ failing/.test(refused.output()), 20_000);
    refused.kill('SIGTERM');
    await refused.exited;
    expect(refused.output()).to.include(`NATS at ${redactedNats()} failing`).and.match(/Authorization Violation/i);
    expectNoSecrets(refused.output(), wrong);

    // A database that does not exist: the pump cannot start and says why in one line.
    const missing = await runCli(['pump'], {
      PATH: process.env.PATH,
      PUMP_METRICS_PORT: '0',
      ...env(),
      DATABASE_URL: withPassword(databaseUrl(`${db.name}_missing`), dbPassword),
    });
    expect(missing.code, missing.stderr).to.equal(1);
    expect(missing.stderr).to.match(/does not exist/);
    expectNoSecrets(missing.stdout + missing.stderr);
  });
});
