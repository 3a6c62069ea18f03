// Re-applying sql/ on a busy database: CREATE OR REPLACE TRIGGER takes SHARE ROW EXCLUSIVE
// (readers pass it), each try waits at most lock_timeout, and a try that times out is rolled
// back and made again. Before, DROP TRIGGER took ACCESS EXCLUSIVE and waited without bound, so
// one long transaction queued every later query on the table behind the migrate.
import { expect } from 'chai';
import pg from 'pg';
import { silentLogger } from '../src/logger.ts';
import { migrate } from '../src/migrate.ts';
import { useTestDatabase, waitForLockWait } from './helpers/database.ts';

describe('migrate: re-applying sql/ next to a long transaction', function () {
  const clients: pg.Client[] = [];
  after(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
  });
  const t = useTestDatabase();

  async function session(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: t.url });
    await c.connect();
    clients.push(c);
    return c;
  }

  /** Makes the next migrate re-apply sql/, as a changed file would. */
  const staleDefinitions = () => t.db.query("UPDATE statehub_meta.sql_definitions SET sha256 = 'changed' WHERE file = '200_capture_repo_registered.sql'");

  /** A writer's open transaction on repos: ROW EXCLUSIVE, as any INSERT or UPDATE takes. */
  async function openWriter(): Promise<pg.Client> {
    const writer = await session();
    await writer.query('BEGIN');
    await writer.query('LOCK TABLE statehub.repos IN ROW EXCLUSIVE MODE');
    return writer;
  }

  it('readers of the locked table are not queued behind it, and it completes once the writer commits', async function () {
    await staleDefinitions();
    const writer = await openWriter();
    const migrating = migrate(t.url, silentLogger(), 'up', undefined, { timeoutMs: 300, tries: 50 });
    await waitForLockWait(t.db, "application_name = 'statehub-migrate'");
    const reader = await session();
    await reader.query("SET statement_timeout = '2s'");
    expect((await reader.query('SELECT count(*) FROM statehub.repos')).rowCount, 'a reader is served while migrate waits').to.equal(1);
    await writer.query('COMMIT');
    expect((await migrating).definitionsApplied).to.equal(true);
  });

  it('gives up after its tries with a message that says why, records nothing, and succeeds when run again', async function () {
    await staleDefinitions();
    const writer = await openWriter();
    const started = Date.now();
    const err = await migrate(t.url, silentLogger(), 'up', undefined, { timeoutMs: 100, tries: 3 }).catch((e: unknown) => e);
    expect(Date.now() - started, 'three short tries').to.be.below(10_000);
    expect((err as Error).message).to.match(/lock timeout.*gave up after 3 tries of 100 ms/);
    const { rows } = await t.db.query<{ sha256: string }>("SELECT sha256 FROM statehub_meta.sql_definitions WHERE file = '200_capture_repo_registered.sql'");
    expect(rows[0]!.sha256, 'the failed tries recorded nothing').to.equal('changed');
    await writer.query('COMMIT');
    expect((await migrate(t.url, silentLogger())).definitionsApplied).to.equal(true);
  });
});
