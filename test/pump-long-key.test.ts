// Head-of-line blocking: one key's events go one at a time (order per key), so a key with
// thousands of them (a stale-task sweep under one workstream) takes a while. The other keys'
// events, in the same delta or committed after it, must not wait for it.
import { expect } from 'chai';
import pg from 'pg';
import type { Queryable } from '../src/db.ts';
import { allDelivered, readStream, usePump, waitFor } from './helpers/pump.ts';

const LONG = 5000;

/** `count` events: all of key `key`, or each of its own key `key<n>` when `oneKeyEach`. */
async function insertEvents(q: Queryable, key: string, count: number, offset: number, oneKeyEach: boolean): Promise<void> {
  await q.query(
    `INSERT INTO statehub.outbox (subject, ordering_key, attributes)
     SELECT 'org.statehub.workstream.completed', CASE WHEN $4 THEN $1 || g ELSE $1 END,
            jsonb_build_object('workstream_id', g, 'slug', 'ws-' || g, 'title', 'Workstream ' || g, 'topic_id', 1, 'repo_id', null, 'repo_goal_id', null)
       FROM generate_series($2::int + 1, $2::int + $3::int) AS g`,
    [key, offset, count, oneKeyEach],
  );
}

describe('pump: one key with thousands of events', function () {
  this.timeout(60_000);
  const f = usePump();

  /** Stream sequences of the events whose ordering key starts with each prefix, in stream order. */
  async function sequences(...prefixes: string[]): Promise<number[][]> {
    const { rows } = await f.db.query<{ event_id: string; ordering_key: string }>('SELECT event_id, ordering_key FROM statehub.outbox');
    const keyOf = new Map(rows.map((r) => [r.event_id, r.ordering_key]));
    const messages = await readStream(f.nc);
    return prefixes.map((p) => messages.filter((m) => keyOf.get(m.msgId!)?.startsWith(p)).map((m) => m.seq));
  }

  it('in the same delta: the other keys are out before the long key is a fifth through', async function () {
    // One transaction, so one delta; the long key's ids come first.
    const c = new pg.Client({ connectionString: f.url });
    await c.connect();
    try {
      await c.query('BEGIN');
      await insertEvents(c, 'workstream:long-a', LONG, 0, false);
      await insertEvents(c, 'workstream:single-a-', 1000, 100_000, true);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
    await waitFor('everything published', () => allDelivered(f.db), 50_000, 100);
    const [long, others] = await sequences('workstream:long-a', 'workstream:single-a-');
    expect(long).to.have.length(LONG);
    expect(others).to.have.length(1000);
    expect(Math.max(...others!), 'the last single-key event, against the long key').to.be.below(long![LONG / 5]!);
  });

  it('committed after it: the other keys do not wait for the long key to finish', async function () {
    await insertEvents(f.db, 'workstream:long-b', LONG, 200_000, false);
    await waitFor('the long key under way', async () => (await sequences('workstream:long-b'))[0]!.length > 0, 10_000, 20);
    for (let i = 0; i < 4; i++) await insertEvents(f.db, 'workstream:single-b-', 50, 300_000 + i * 50, true);
    await waitFor('everything published', () => allDelivered(f.db), 50_000, 100);
    const [long, others] = await sequences('workstream:long-b', 'workstream:single-b-');
    expect(long).to.have.length(LONG);
    expect(others).to.have.length(200);
    expect(Math.max(...others!), 'the last single-key event, against the long key').to.be.below(long![LONG - 1000]!);
  });
});
