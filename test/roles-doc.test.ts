// docs/roles.md, "Who may connect": the SQL blocks an operator copies, run as written (names
// swapped for throwaway ones) against throwaway databases. A login role without CONNECT is
// refused at connect (42501), one with it connects; staging's credentials cannot reach
// production. Roles are cluster-wide, so every role made here has a unique name and is dropped.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import pg from 'pg';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from './helpers/database.ts';

const ROLES_DOC = readFileSync(new URL('../docs/roles.md', import.meta.url), 'utf8');
/** Group roles the blocks may name as they are: the migrations create them, nothing here drops them. */
const GROUPS = ['statehub_api', 'statehub_pump'];

/** The first ```sql block after the heading `heading` of docs/roles.md. */
function sqlAfter(heading: string): string {
  const at = ROLES_DOC.indexOf(`\n${heading}\n`);
  expect(at, `heading "${heading}" in docs/roles.md`).to.be.above(-1);
  const m = /```sql\n([\s\S]*?)```/.exec(ROLES_DOC.slice(at));
  expect(m, `a sql block after "${heading}"`).to.not.equal(null);
  return m![1]!;
}

/**
 * The block with each documented name replaced by its throwaway one. Every statehub* name in the
 * block must be a group or in `names`, so the test can never touch a real hub database or role.
 */
function substitute(sql: string, names: Record<string, string>, password: string): string {
  for (const word of new Set(sql.match(/\bstatehub\w*/g))) {
    expect(GROUPS.includes(word) || word in names, `"${word}" in the block has no throwaway name`).to.equal(true);
  }
  let out = sql.replaceAll("'…'", `'${password}'`);
  for (const [from, to] of Object.entries(names)) out = out.replace(new RegExp(`\\b${from}\\b`, 'g'), to);
  return out;
}

describe('docs/roles.md: who may connect (CONNECT and TEMPORARY)', function () {
  this.timeout(60_000);
  const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const roles: string[] = [];
  const databases: TestDatabase[] = [];
  let failed = false;
  const admin = new pg.Client({ connectionString: ADMIN_URL });

  /** A unique throwaway role name, dropped in after(). */
  const role = (what: string) => {
    const name = `statehub_test_${tag}_${what}`;
    roles.push(name);
    return name;
  };

  before(async function () {
    await admin.connect();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });
  after(async function () {
    // DROP OWNED revokes the roles' privileges on databases too (shared objects), so the roles
    // go even when a failed test keeps its databases.
    for (const name of roles) {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
      if (rowCount) await admin.query(`DROP OWNED BY ${name}; DROP ROLE ${name}`);
    }
    for (const db of databases) {
      if (failed) console.error(`    kept test database ${db.name} for inspection`);
      else await db.drop();
    }
    await admin.end();
  });

  async function database(): Promise<TestDatabase> {
    const db = await createTestDatabase();
    databases.push(db);
    return db;
  }

  /** Connects to db as user (the password is ignored under trust auth); the SQLSTATE when refused. */
  async function connectAs(user: string, db: TestDatabase, sql?: string): Promise<string | undefined> {
    const u = new URL(db.url);
    u.username = user;
    u.password = password;
    const client = new pg.Client({ connectionString: u.toString() });
    try {
      await client.connect();
      if (sql) await client.query(sql);
      return undefined;
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  it('one hub database: afterwards a login role without CONNECT is refused (42501), the service roles connect without TEMPORARY', async function () {
    const db = await database();
    const [api, pump, other] = [role('api_login'), role('pump_login'), role('other')];
    await admin.query(`CREATE ROLE ${api} LOGIN PASSWORD '${password}' IN ROLE statehub_api`);
    await admin.query(`CREATE ROLE ${pump} LOGIN PASSWORD '${password}' IN ROLE statehub_pump`);
    await admin.query(`CREATE ROLE ${other} LOGIN PASSWORD '${password}'`);
    expect(await connectAs(other, db), 'before: PUBLIC may connect').to.equal(undefined);

    const sql = substitute(sqlAfter('### One hub database'), { statehub: db.name, statehub_api_login: api, statehub_pump_login: pump }, password);
    await admin.query(sql);

    expect(await connectAs(other, db), 'a role without CONNECT').to.equal('42501');
    expect(await connectAs(api, db, 'SELECT count(*) FROM statehub.domains'), 'the API login role').to.equal(undefined);
    expect(await connectAs(pump, db, 'SELECT count(*) FROM statehub.outbox'), 'the pump login role').to.equal(undefined);
    expect(await connectAs(api, db, 'CREATE TEMP TABLE scratch (i int)'), 'TEMPORARY').to.equal('42501');
  });

  it('two hub databases in one cluster: each login role connects to its own database and is refused (42501) by the other', async function () {
    const [prod, staging] = [await database(), await database()];
    const names: Record<string, string> = { statehub_prod: prod.name, statehub_staging: staging.name };
    for (const service of ['api', 'pump']) for (const env of ['prod', 'staging']) names[`statehub_${service}_${env}`] = role(`${service}_${env}`);
    await admin.query(substitute(sqlAfter('### Two hub databases in one cluster'), names, password));

    for (const [env, own, otherDb] of [['prod', prod, staging], ['staging', staging, prod]] as const) {
      for (const service of ['api', 'pump']) {
        const user = names[`statehub_${service}_${env}`]!;
        expect(await connectAs(user, own), `${user} on its own database`).to.equal(undefined);
        expect(await connectAs(user, otherDb), `${user} on the other database`).to.equal('42501');
      }
    }
    // Membership is what the table grants hang on: the production API role reads production's tables.
    expect(await connectAs(names.statehub_api_prod!, prod, 'SELECT count(*) FROM statehub.workstreams')).to.equal(undefined);
  });
});
