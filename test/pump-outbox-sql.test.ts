// The pump's statements must plan as index lookups whatever the outbox's statistics say. They
// are gathered while nearly every row is delivered, so a backlog that arrives in one transaction
// is invisible to them; a plan built on a guess would scan the whole outbox on every read.
import { expect } from 'chai';
import { backlog } from '../src/pump/backlog.ts';
import { openDelta, openDeltaSql, readPage, readPageSql, readPosition, splitSnapshot } from '../src/pump/outbox.ts';
import { useTestDatabase } from './helpers/database.ts';

describe('pump SQL on a large backlog with stale statistics', function () {
  const t = useTestDatabase();

  before(async function () {
    this.timeout(120_000);
    // 200,000 delivered rows (txid 3 is visible in every snapshot), statistics taken on them ...
    await t.db.query(
      `INSERT INTO statehub.outbox (subject, ordering_key, attributes, txid)
       SELECT 'org.statehub.workstream.completed', 'workstream:' || g, '{}'::jsonb, '3' FROM generate_series(1, 200000) g`,
    );
    await t.db.query('ANALYZE statehub.outbox');
    // ... then a backlog of 50,000 in one transaction.
    await t.db.query(
      `INSERT INTO statehub.outbox (subject, ordering_key, attributes)
       SELECT 'org.statehub.workstream.completed', 'workstream:' || g, '{}'::jsonb FROM generate_series(1, 50000) g`,
    );
  });

  async function plan(sql: string, params: unknown[]): Promise<string> {
    // EXPLAIN without ANALYZE plans the statement and runs nothing.
    const { rows } = await t.db.query(`EXPLAIN ${sql}`, params);
    return rows.map((r) => r['QUERY PLAN'] as string).join('\n');
  }

  it('opens a delta through the txid index and pages through the primary key, never scanning the outbox', async () => {
    const position = await readPosition(t.db);
    // A previous snapshot with a long transaction in its running list: the IN-list part.
    const { xmax } = splitSnapshot(position.snapshot);
    const open = await plan(openDeltaSql, [xmax, ['700', '701'], 1000, `700:${xmax}:700,701`]);
    expect(open).to.match(/Index (Only )?Scan using outbox_txid|Bitmap Index Scan on outbox_txid/);
    expect(open).to.match(/Index Scan using outbox_pkey/);
    expect(open).not.to.match(/Seq Scan on outbox|Sort/);

    const page = await plan(readPageSql, [position.snapshot, '900000:900000:', 200_500, 250_000, 1000]);
    expect(page).to.match(/Index Scan using outbox_pkey/);
    expect(page).not.to.match(/Seq Scan on outbox|Sort/);

    const { delta, rows } = await openDelta(t.db, position.snapshot, 1000);
    expect(delta.events).to.equal(50_000);
    expect(rows.map((r) => r.id)).to.deep.equal(Array.from({ length: 1000 }, (_, i) => 200_001 + i));
    const next = await readPage(t.db, position.snapshot, delta, rows.at(-1)!.id, 1000);
    expect(next[0]!.id).to.equal(201_001);
    expect(next).to.have.length(1000);
  });

  it('counts the backlog from the position, through the txid index', async () => {
    const { xmax } = splitSnapshot((await readPosition(t.db)).snapshot);
    const text = await plan('SELECT count(*) FROM statehub.outbox o WHERE (o.txid >= $1::xid8 OR o.txid = ANY ($2::xid8[]))', [xmax, []]);
    expect(text).not.to.match(/Seq Scan on outbox/);
    const b = await backlog(t.db);
    expect(b).to.include({ pending: 50_000, oldestId: 200_001, failed: 0, waiting: 0, blockedKeys: 0 });
  });
});
