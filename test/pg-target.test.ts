// libpq's multi-host DATABASE_URL (src/pg-target.ts): parsed as libpq reads it, and followed on
// a real primary and standby: every kind of connection the hub opens reaches the server that
// takes read-write sessions, whichever order the hosts are listed in, and finds the promoted
// standby after a failover without a restart.
import { expect } from 'chai';
import { loadConfig } from '../src/config.ts';
import { createDb } from '../src/db.ts';
import { silentLogger } from '../src/logger.ts';
import { parseDatabaseUrl, PgTarget } from '../src/pg-target.ts';
import { freePort } from './helpers/nats-server.ts';
import { startPgCluster, type PgCluster } from './helpers/pg-cluster.ts';
import { waitFor } from './helpers/pump.ts';

describe('DATABASE_URL with several hosts: parsing', function () {
  it('reads each host and port (5432 when left out), IPv6 in brackets, and target_session_attrs', function () {
    const p = parseDatabaseUrl('postgres://u:p%40ss@db1,db2:5433,[::1]:6543/hub?target_session_attrs=read-write&sslmode=require');
    expect(p.servers).to.deep.equal([
      { host: 'db1', port: 5432 },
      { host: 'db2', port: 5433 },
      { host: '::1', port: 6543 },
    ]);
    expect(p.attrs).to.equal('read-write');
    expect(p.urlFor(p.servers[2]!), 'one host, the password as written, the attribute taken out').to.equal('postgres://u:p%40ss@[::1]:6543/hub?sslmode=require');
    expect(parseDatabaseUrl('postgresql://localhost/hub').attrs).to.equal('any');
  });

  it('refuses what libpq would refuse, saying what is wrong, as configuration', function () {
    const refused = (url: string) => {
      try {
        loadConfig({ DATABASE_URL: url });
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused('postgres://h1,h2/db?target_session_attrs=writable')).to.match(/DATABASE_URL: target_session_attrs must be one of any, read-write/);
    expect(refused('postgres://h1:99999/db')).to.match(/port 99999 is out of range/);
    expect(refused('postgres://h1:5432,:5433/db')).to.match(/":5433" is not a host\[:port\]/);
    expect(refused('mysql://h1/db')).to.match(/expected a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(refused('postgres://h1,h2/db?passfile=/x')).to.match(/passfile= is read for one host only/);
    expect(refused('postgres://u@h1:5432,h2:5432/db?target_session_attrs=read-write')).to.equal('accepted');
  });
});

describe('DATABASE_URL with several hosts: a primary and a standby', function () {
  this.timeout(120_000);
  let cluster: PgCluster | undefined;
  after(async () => cluster?.close());
  before(async function () {
    cluster = await startPgCluster();
    await cluster.createDatabase('statehub');
  });

  const hosts = (...ports: number[]) => `postgres://postgres@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/statehub`;

  it('read-write skips a dead host and the standby, listed first; any takes the first that answers', async function () {
    const dead = await freePort();
    const url = `${hosts(dead, cluster!.standby.port, cluster!.primary.port)}?target_session_attrs=read-write`;
    const db = createDb({ connectionString: url, max: 2 }, silentLogger());
    try {
      const { rows } = await db.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
      expect(rows[0]!.recovery, 'the pool reached the primary').to.equal(false);
      await db.query("INSERT INTO statehub.domains (slug, name) VALUES ('d1', 'D1')");
    } finally {
      await db.close();
    }
    const any = createDb({ connectionString: hosts(dead, cluster!.standby.port, cluster!.primary.port), max: 1 }, silentLogger());
    try {
      const { rows } = await any.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
      expect(rows[0]!.recovery, 'any: the standby, the first that answers').to.equal(true);
    } finally {
      await any.close();
    }
  });

  it('says which host gave which answer when none takes the sessions asked for', async function () {
    const dead = await freePort();
    const target = PgTarget.of(`${hosts(dead, cluster!.standby.port)}?target_session_attrs=primary`);
    const err = await target.find().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(new RegExp(`no server of DATABASE_URL takes primary sessions: 127.0.0.1:${dead}: .*; 127.0.0.1:${cluster!.standby.port} is a standby`));
  });

  it('after a promotion, the same pool reaches the promoted standby with no restart', async function () {
    const url = `${hosts(cluster!.primary.port, cluster!.standby.port)}?target_session_attrs=read-write`;
    const db = createDb({ connectionString: url, max: 2 }, silentLogger());
    try {
      await db.query("INSERT INTO statehub.domains (slug, name) VALUES ('d2', 'D2')");
      const changes = PgTarget.of(url).changes;
      await cluster!.caughtUp();
      await cluster!.crashPrimary();
      await cluster!.promoteStandby();
      await waitFor(
        'a write through the same pool',
        () => db.query("INSERT INTO statehub.domains (slug, name) VALUES ('d3', 'D3') ON CONFLICT DO NOTHING").then(() => true, () => false),
        10_000,
        100,
      );
      const { rows } = await db.query<{ slug: string }>('SELECT slug FROM statehub.domains ORDER BY slug');
      expect(rows.map((r) => r.slug)).to.deep.equal(['d1', 'd2', 'd3']);
      // The pump confirms the database again when this grows (src/pump/delivery.ts).
      expect(PgTarget.of(url).changes, 'the connections went to another server').to.equal(changes + 1);
    } finally {
      await db.close();
    }
  });
});
