// The pump's marking statement must find rows through the primary key whatever the outbox's
// statistics say: they are gathered while nearly every row is published, so a filter on
// published_at looks like it matches nothing, and a plan built on that scans the whole outbox
// once per acked id (seconds per batch, exactly when a backlog is large).
import { expect } from 'chai';
import { markAcked, markPublishedAndReadPending } from '../src/pump/outbox.ts';
import { useTestDatabase } from './helpers/database.ts';

describe('pump SQL on a large backlog with stale statistics', function () {
  const t = useTestDatabase();

  before(async function () {
    this.timeout(120_000);
    const insert = (n: number, published: boolean) =>
      t.db.query(
        `INSERT INTO statehub.outbox (subject, ordering_key, attributes, published_at, stream, stream_seq)
         SELECT 'org.statehub.workstream.completed', 'workstream:' || g, '{}'::jsonb,
                CASE WHEN $2 THEN now() END, CASE WHEN $2 THEN 'S' END, CASE WHEN $2 THEN g END
           FROM generate_series(1, $1::int) g`,
        [n, published],
      );
    await insert(20_000, true);
    await t.db.query('ANALYZE statehub.outbox'); // statistics: nothing is pending
    await insert(50_000, false); // then a backlog arrives in one transaction
  });

  it('marks acked rows by key lookup or one hash join, never comparing every row with every id', async () => {
    const { rows: pending } = await t.db.query<{ id: number }>(
      'SELECT id FROM statehub.outbox WHERE published_at IS NULL ORDER BY id LIMIT 1000',
    );
    const ids = pending.map((r) => r.id);
    // EXPLAIN without ANALYZE plans the statement and runs nothing.
    const { rows: plan } = await t.db.query(`EXPLAIN ${markAcked}`, [ids, ids.map(() => 'S'), ids]);
    const text = plan.map((r) => r['QUERY PLAN'] as string).join('\n');
    // Through the primary key, or one hash join over the outbox: never a nested loop comparing
    // every outbox row with every id (its signature is the join done as a filter).
    expect(text).to.match(/outbox_pkey|Hash Cond: \(u\.id = o\.id\)/);
    expect(text).not.to.match(/Join Filter: \(o\.id = u\.id\)/);

    const next = await markPublishedAndReadPending(
      t.db,
      ids.map((id) => ({ id, stream: 'S', seq: id })),
      1000,
    );
    expect(next[0]!.id).to.equal(ids[ids.length - 1]! + 1);
    const { rows } = await t.db.query('SELECT count(*)::int AS n FROM statehub.outbox WHERE published_at IS NULL');
    expect(rows[0]!.n).to.equal(49_000);
  });
});
