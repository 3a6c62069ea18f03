// Rows the pump cannot publish: set aside with their reason, never blocking the rows behind
// them, and published once requeued (failed_at = NULL) after the cause is fixed.
import { expect } from 'chai';
import type { NatsConnection } from 'nats';
import { requeueFailed } from '../src/pump/tools/requeue.ts';
import { countRows, readStream, STREAM, usePump, waitFor, workstreamAttributes } from './helpers/pump.ts';

describe('pump: failed rows', function () {
  // Another service owns the stream and caps message size; the pump must leave it as it is.
  const f = usePump(async (nc) => {
    await (await nc.jetstreamManager()).streams.add({ name: STREAM, subjects: ['org.>'], max_msg_size: 2048 });
  });
  let nc: NatsConnection;
  before(function () {
    nc = f.nc;
  });

  async function insert(key: string, attributes: object): Promise<number> {
    const { rows } = await f.db.query<{ id: number }>(
      `INSERT INTO statehub.outbox (subject, ordering_key, attributes) VALUES ('org.statehub.workstream.completed', $1, $2) RETURNING id`,
      [key, attributes],
    );
    return rows[0]!.id;
  }

  it('sets aside a row that fails the catalog or that JetStream refuses, publishes the rows behind it, and publishes it once requeued', async function () {
    const first = await insert('workstream:1', workstreamAttributes(1));
    const invalid = await insert('workstream:1', { workstream_id: 1, slug: 'no-title', topic_id: 1, repo_id: null, repo_goal_id: null });
    const tooLarge = await insert('workstream:1', { ...workstreamAttributes(1), title: 'x'.repeat(4000) });
    const after = await insert('workstream:1', workstreamAttributes(1));
    const other = await insert('workstream:2', workstreamAttributes(2));

    await waitFor('the good rows published', () => countRows(f.db, 'published_at IS NOT NULL').then((n) => n === 3), 10_000);
    const { rows } = await f.db.query<{ id: number; failed: boolean; last_error: string | null; attempts: number }>(
      'SELECT id, failed_at IS NOT NULL AS failed, last_error, attempts FROM statehub.outbox ORDER BY id',
    );
    expect(rows.map((r) => [r.id, r.failed])).to.deep.equal([
      [first, false],
      [invalid, true],
      [tooLarge, true],
      [after, false],
      [other, false],
    ]);
    expect(rows[1]!.last_error).to.match(/title/);
    expect(rows[2]!.last_error).to.match(/JetStream refused: .*size/i);
    // The rows behind the failures, on the same key, still went out in order.
    const { rows: key1 } = await f.db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox WHERE id = ANY($1) ORDER BY id', [[first, after]]);
    const streamIds = (await readStream(nc)).map((m) => m.msgId);
    expect(streamIds).to.have.length(3);
    expect(streamIds.filter((id) => key1.some((r) => r.event_id === id))).to.deep.equal(key1.map((r) => r.event_id));

    // The operator raises the stream's limit and requeues.
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(STREAM);
    await jsm.streams.update(STREAM, { ...info.config, max_msg_size: -1 });
    // `statehub outbox requeue`: failed_at = NULL, then a NOTIFY (the poll is a minute here).
    expect((await requeueFailed(f.db, { ids: [invalid, tooLarge] })).requeued).to.deep.equal([invalid, tooLarge]);
    await waitFor('the requeued rows handled', () => countRows(f.db, 'published_at IS NULL AND failed_at IS NULL').then((n) => n === 0), 10_000);
    expect(await countRows(f.db, `id = ${tooLarge} AND published_at IS NOT NULL`), 'the large row, now accepted').to.equal(1);
    expect(await countRows(f.db, `id = ${invalid} AND failed_at IS NOT NULL`), 'the invalid row, set aside again').to.equal(1);
    expect((await readStream(nc)).map((m) => (m.envelope.attributes as { title?: string }).title)).to.include('x'.repeat(4000));
    expect((await jsm.streams.info(STREAM)).config.subjects).to.deep.equal(['org.>']);
  });
});
