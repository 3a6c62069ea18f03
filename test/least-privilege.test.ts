// The production set-up of docs/roles.md, for real: a database owned by a non-superuser owner
// role that runs the migrations, the API on a login in statehub_api and the pump on a login in
// statehub_pump. Every other suite connects as the superuser, which would hide a missing grant.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { connect, type NatsConnection } from 'nats';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { createDb, type Db } from '../src/db.ts';
import { silentLogger } from '../src/logger.ts';
import { migrate } from '../src/migrate.ts';
import { startPump, type PumpHandle } from '../src/pump/index.ts';
import { ADMIN_URL, databaseUrl } from './helpers/database.ts';
import { startTestApi } from './helpers/http.ts';
import { capturingLogger } from './helpers/log.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { allDelivered, readStream, waitFor } from './helpers/pump.ts';

const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
const OWNER = `statehub_test_owner_${suffix}`;
const API_LOGIN = `statehub_test_api_${suffix}`;
const PUMP_LOGIN = `statehub_test_pump_${suffix}`;
const DB = `statehub_test_lp_${suffix}`;

async function asAdmin(...statements: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

/** The database's URL for `user` (trust authentication on loopback, as on this machine). */
function urlAs(user: string): string {
  const u = new URL(databaseUrl(DB));
  u.username = user;
  u.password = '';
  return u.toString();
}

describe('least privilege: migrated by the owner role, the API and the pump on their own logins', function () {
  this.timeout(60_000);
  let nats: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let pump: PumpHandle | undefined;
  let apiDb: Db | undefined;
  let stopApi: (() => Promise<void>) | undefined;
  let migrateLines: string[] = [];

  before(async function () {
    // The groups are cluster-wide and usually exist already (any earlier migration made them).
    await asAdmin(
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'statehub_api') THEN CREATE ROLE statehub_api NOLOGIN; END IF;
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'statehub_pump') THEN CREATE ROLE statehub_pump NOLOGIN; END IF;
       END $$`,
      `CREATE ROLE ${OWNER} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB`,
      `CREATE DATABASE ${DB} OWNER ${OWNER}`,
      `CREATE ROLE ${API_LOGIN} LOGIN NOSUPERUSER IN ROLE statehub_api`,
      `CREATE ROLE ${PUMP_LOGIN} LOGIN NOSUPERUSER IN ROLE statehub_pump`,
    );
    const { log, lines } = capturingLogger('warn');
    migrateLines = lines;
    await migrate(urlAs(OWNER), log);
  });

  after(async function () {
    await pump?.stop();
    await stopApi?.();
    await apiDb?.close();
    await nc?.close();
    await nats?.close();
    await asAdmin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`, `DROP ROLE IF EXISTS ${API_LOGIN}`, `DROP ROLE IF EXISTS ${PUMP_LOGIN}`, `DROP ROLE IF EXISTS ${OWNER}`);
  });

  it('migrate as the owner role does not warn about superuser function owners', function () {
    expect(migrateLines.filter((l) => l.includes('owned by the superuser'))).to.deep.equal([]);
  });

  it('migrate as a superuser warns that the SECURITY DEFINER functions run as one', async function () {
    const name = `statehub_test_su_${suffix}`;
    await asAdmin(`CREATE DATABASE ${name}`);
    try {
      const { log, lines } = capturingLogger('warn');
      await migrate(databaseUrl(name), log);
      const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).includes('owned by the superuser'));
      expect(warning).to.include({ level: 'warn', owner: 'postgres' });
      expect(warning!.functions).to.be.greaterThan(5);
    } finally {
      await asAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });

  it('the API (statehub_api) makes transitions and the pump (statehub_pump) publishes their events', async function () {
    apiDb = createDb({ connectionString: urlAs(API_LOGIN), max: 4 }, silentLogger());
    const { api, client } = await startTestApi(apiDb);
    stopApi = () => api.close();
    const created = async (path: string, body: object) => {
      const r = await client.post(path, body);
      expect(r.status, `${path}: ${JSON.stringify(r.body)}`).to.equal(201);
      return r.body as { id: number };
    };
    await created('/domains', { slug: 'lp', name: 'Least privilege' });
    const topic = await created('/topics', { slug: 'lp-topic', title: 'Topic' });
    const repo = await created('/repos/', { slug: 'lp-repo', domain_slug: 'lp' });
    const ws = await created('/workstreams', { slug: 'lp-ws', title: 'Workstream', topic_id: topic.id, repo_id: repo.id, status: 'active' });
    expect((await client.patch(`/workstreams/${ws.id}`, { status: 'completed' })).status).to.equal(200);

    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    pump = await startPump(loadConfig({ DATABASE_URL: urlAs(PUMP_LOGIN), NATS_URL: nats.url, PUMP_METRICS_PORT: '0', PUMP_POLL_INTERVAL: '1m' }), silentLogger());
    const ownerDb = createDb({ connectionString: urlAs(OWNER), max: 1 }, silentLogger());
    try {
      await waitFor('the events published by the pump login', () => allDelivered(ownerDb), 20_000);
    } finally {
      await ownerDb.close();
    }
    const subjects = (await readStream(nc)).map((m) => m.subject);
    expect(subjects).to.deep.equal(['org.statehub.repo.registered', 'org.statehub.workstream.completed']);
    expect(pump.readiness()).to.deep.include({ ready: true });
  });
});
