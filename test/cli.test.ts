// `statehub` as a user runs it. Every command and subcommand prints its usage on --help and -h
// and exits 0 without doing anything; unknown flags and bad arguments exit 2 with the message and
// the usage on stderr. The environment points at a fresh, unmigrated database and at a NATS port
// where nothing listens: a command that ran instead would migrate that database, keep running
// (start, api, pump) until killed, or fail with exit code 1.
import { expect } from 'chai';
import pg from 'pg';
import { runCli, type CliResult } from './helpers/cli.ts';
import { writeCredsFiles } from './helpers/creds.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { freePort } from './helpers/nats-server.ts';

const COMMANDS = [
  ['start'],
  ['api'],
  ['migrate'],
  ['pump'],
  ['outbox'],
  ['outbox', 'status'],
  ['outbox', 'requeue'],
  ['outbox', 'prune'],
  ['replay'],
  ['events'],
  ['events', 'tail'],
  ['cleanup-stale-tasks'],
];
const TOP_LEVEL = COMMANDS.filter((c) => c.length === 1).map((c) => c[0]!);

describe('statehub CLI: usage, unknown flags, bad arguments', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    db = await createTestDatabase({ migrated: false });
    env = {
      PATH: process.env.PATH,
      DATABASE_URL: db.url,
      NATS_URL: `nats://127.0.0.1:${await freePort()}`,
      PORT: '0',
      PUMP_METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
    };
  });
  after(async function () {
    await db?.drop();
  });

  /** Runs every argument list, a few at a time: each child is a node process starting tsx. */
  async function runAll(argLists: string[][], extraEnv: NodeJS.ProcessEnv = {}): Promise<Array<[string[], CliResult]>> {
    const results: Array<[string[], CliResult]> = [];
    for (let i = 0; i < argLists.length; i += 6) {
      const batch = argLists.slice(i, i + 6);
      const done = await Promise.all(batch.map((args) => runCli(args, { ...env, ...extraEnv }, 15_000)));
      batch.forEach((args, j) => results.push([args, done[j]!]));
    }
    return results;
  }

  /** Schemas that `migrate` (or `start`) would have created. */
  async function statehubSchemas(): Promise<string[]> {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'statehub%'");
      return rows.map((r) => r.nspname);
    } finally {
      await c.end();
    }
  }

  const describeRun = (args: string[], r: CliResult) =>
    `statehub ${args.join(' ')}: exit ${r.code}${r.timedOut ? ' (still running after 15 s, killed)' : ''}\n${r.stderr}`;

  it('--help and -h: every command and subcommand prints its usage on stdout and exits 0, touching nothing', async function () {
    const argLists = [...COMMANDS, ['help']].flatMap((path) => [[...path, '--help'], [...path, '-h']]);
    for (const [args, r] of await runAll(argLists)) {
      const path = args.slice(0, -1).filter((a) => a !== 'help');
      expect(r.code, describeRun(args, r)).to.equal(0);
      expect(r.stdout, args.join(' ')).to.match(new RegExp(`^usage: statehub ${path.map((p) => `${p} `).join('')}[[(]`));
      expect(r.stderr, args.join(' ')).to.equal('');
    }
    expect(await statehubSchemas(), 'schemas created').to.deep.equal([]);
  });

  it('statehub help <command> prints the usage of that command and exits 0', async function () {
    for (const [args, r] of await runAll([['help', 'migrate'], ['help', 'outbox'], ['help', 'events']])) {
      expect(r.code, describeRun(args, r)).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`^usage: statehub ${args[1]} `));
    }
    expect(await statehubSchemas()).to.deep.equal([]);
  });

  it('statehub alone prints the usage on stderr and exits 2; help, --help and -h print it on stdout and exit 0', async function () {
    const [[, bare], ...asked] = (await runAll([[], ['help'], ['--help'], ['-h']])) as [[string[], CliResult], ...Array<[string[], CliResult]>];
    expect(bare.code, bare.stderr).to.equal(2);
    expect(bare.stdout).to.equal('');
    expect(bare.stderr).to.match(/^statehub: a command is required\n\nusage: statehub \[options\] \[command\]/);
    for (const [args, r] of asked) {
      expect(r.code, describeRun(args, r)).to.equal(0);
      expect(r.stdout).to.match(/^usage: statehub \[options\] \[command\]/);
      for (const name of TOP_LEVEL) expect(r.stdout, name).to.match(new RegExp(`^  ${name}\\b`, 'm'));
    }
  });

  it('an unknown flag exits 2 with the message and the usage on stderr, for every command and subcommand', async function () {
    for (const [args, r] of await runAll([[], ...COMMANDS].map((path) => [...path, '--bogus']))) {
      const name = ['statehub', ...args.slice(0, -1)].join(' ');
      expect(r.code, describeRun(args, r)).to.equal(2);
      expect(r.stderr).to.satisfy((text: string) => text.startsWith(`${name}: unknown option '--bogus'\n\nusage: ${name} `), r.stderr);
      expect(r.stdout).to.equal('');
    }
    expect(await statehubSchemas()).to.deep.equal([]);
  });

  it('a bad argument or an out-of-range duration exits 2 with the message and the usage on stderr', async function () {
    // [the command, its arguments, what the message says]
    const cases: Array<[string, string[], RegExp]> = [
      ['migrate', ['sideways'], /'sideways' is invalid for argument 'direction'\. Allowed choices are up, down\./],
      ['migrate', ['--count', '0'], /'--count <N>' argument '0' is invalid\. expected a whole number of at least 1/],
      ['api', ['extra'], /too many arguments for 'api'/],
      ['outbox prune', ['--older-than', '30m'], /expected a duration from 1h to 3650d \(units ms, s, m, h, d\), got "30m"/],
      ['outbox prune', ['--older-than', '99999999999d'], /expected a duration from 1h to 3650d/],
      ['replay', ['--since', '0s'], /expected a duration from 1s to 3650d \(units ms, s, m, h, d\), got "0s"/],
      ['replay', ['--since', '3651d'], /expected a duration from 1s to 3650d/],
    ];
    const results = await runAll(cases.map(([command, args]) => [...command.split(' '), ...args]));
    for (const [i, [args, r]] of results.entries()) {
      const [command, , message] = cases[i]!;
      expect(r.code, describeRun(args, r)).to.equal(2);
      expect(r.stderr.split('\n')[0], args.join(' ')).to.satisfy((line: string) => line.startsWith(`statehub ${command}: `));
      expect(r.stderr, args.join(' ')).to.match(message);
      expect(r.stderr, args.join(' ')).to.include(`\n\nusage: statehub ${command} `);
      expect(r.stdout).to.equal('');
    }
    expect(await statehubSchemas()).to.deep.equal([]);
  });

  it('start with a malformed NATS_CREDS_FILE exits 2 with one line, before migrating', async function () {
    const creds = writeCredsFiles();
    try {
      const r = await runCli(['start'], { ...env, NATS_CREDS_FILE: creds.malformed }, 15_000);
      expect(r.code, describeRun(['start'], r)).to.equal(2);
      expect(r.stderr).to.match(/^statehub: invalid configuration: NATS_CREDS_FILE: [^\n]+ is not a NATS \.creds file[^\n]*\n$/);
    } finally {
      creds.remove();
    }
    expect(await statehubSchemas()).to.deep.equal([]);
  });
});
