// Events the pump cannot publish: parked as failed with their reason, and their ordering key
// blocked (its later events wait, parked as waiting) while other keys flow; requeue publishes
// the failed event and then the waiting ones in order, skip gives it up and publishes the rest.
import { expect } from 'chai';
import type { NatsConnection } from 'nats';
import { requeueFailed, skipFailed } from '../src/cli/tools/parked.ts';
import { eventStatus } from '../src/cli/tools/status.ts';
import { allDelivered, parkedRows, readStream, STREAM, usePump, waitFor, workstreamAttributes } from './helpers/pump.ts';

describe('pump: failed events block their key', function () {
  // Another service owns the stream and caps message size; the pump must leave it as it is.
  const f = usePump(async (nc) => {
    await (await nc.jetstreamManager()).streams.add({ name: STREAM, subjects: ['org.>'], max_msg_size: 2048 });
  });
  let nc: NatsConnection;
  before(function () {
    nc = f.nc;
  });

  async function insert(key: string, attributes: object): Promise<{ id: number; event_id: string }> {
    const { rows } = await f.db.query<{ id: number; event_id: string }>(
      `INSERT INTO statehub.outbox (subject, ordering_key, attributes) VALUES ('org.statehub.workstream.completed', $1, $2) RETURNING id, event_id`,
      [key, attributes],
    );
    return rows[0]!;
  }

  const streamIds = async () => (await readStream(nc)).map((m) => m.msgId);
  const stateOf = async (id: number) => (await parkedRows(f.db)).find((p) => p.outbox_id === id)?.state;

  it('parks a refused event and holds its key; other keys flow; requeue releases the key in order', async function () {
    const first = await insert('workstream:1', workstreamAttributes(1));
    const tooLarge = await insert('workstream:1', { ...workstreamAttributes(1), title: 'x'.repeat(4000) });
    const behind = await insert('workstream:1', workstreamAttributes(1));
    const other = await insert('workstream:2', workstreamAttributes(2));

    await waitFor('the delta recorded', () => parkedRows(f.db).then((p) => p.length === 2), 10_000);
    expect(await parkedRows(f.db)).to.deep.equal([
      { outbox_id: tooLarge.id, ordering_key: 'workstream:1', state: 'failed', error: (await parkedRows(f.db))[0]!.error },
      { outbox_id: behind.id, ordering_key: 'workstream:1', state: 'waiting', error: null },
    ]);
    expect((await parkedRows(f.db))[0]!.error).to.match(/JetStream refused: .*size/i);
    expect(await streamIds()).to.deep.equal([first.event_id, other.event_id]);

    // A later event of the blocked key waits too; one of another key goes straight out.
    const later = await insert('workstream:1', workstreamAttributes(1));
    const other2 = await insert('workstream:3', workstreamAttributes(3));
    await waitFor('the other key published', async () => (await streamIds()).includes(other2.event_id), 10_000);
    await waitFor('the later event parked as waiting', async () => (await stateOf(later.id)) === 'waiting', 10_000);
    expect((await eventStatus(f.db, tooLarge.event_id))?.state).to.equal('failed');
    expect((await eventStatus(f.db, later.event_id))?.state).to.equal('waiting');

    // Requeue before the cause is fixed: it fails again, and the key stays blocked.
    expect((await requeueFailed(f.db, [tooLarge.id])).changed).to.deep.equal([tooLarge.id]);
    await waitFor('the requeued event failed again', async () => (await stateOf(tooLarge.id)) === 'failed', 10_000);
    expect(await stateOf(behind.id)).to.equal('waiting');

    // The operator raises the stream's limit and requeues: the key's events go out in id order.
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(STREAM);
    await jsm.streams.update(STREAM, { ...info.config, max_msg_size: -1 });
    expect((await requeueFailed(f.db, 'all')).changed).to.deep.equal([tooLarge.id]);
    await waitFor('the key released', () => allDelivered(f.db), 10_000);
    expect(await streamIds()).to.deep.equal([first.event_id, other.event_id, other2.event_id, tooLarge.event_id, behind.event_id, later.event_id]);
    expect((await parkedRows(f.db)).map((p) => p.state)).to.deep.equal(['published', 'published', 'published']);
    const published = await eventStatus(f.db, tooLarge.event_id);
    expect(published).to.include({ state: 'published', stream: STREAM, batch_id: null });
    expect((await jsm.streams.info(STREAM)).config.subjects).to.deep.equal(['org.>']);

    // Now unblocked: a new event of the key is published directly.
    const after = await insert('workstream:1', workstreamAttributes(1));
    await waitFor('the unblocked key flows', async () => (await streamIds()).includes(after.event_id), 10_000);
    expect(await stateOf(after.id)).to.equal(undefined);
  });

  it('parks an event that fails the catalog; skip gives it up and publishes the key\'s waiting events', async function () {
    const before = (await streamIds()).length;
    const invalid = await insert('workstream:9', { workstream_id: 9, slug: 'no-title', topic_id: 1, repo_id: null, repo_goal_id: null });
    const behind = await insert('workstream:9', workstreamAttributes(9));
    await waitFor('both parked', () => parkedRows(f.db).then((p) => p.filter((r) => r.ordering_key === 'workstream:9').length === 2), 10_000);
    expect(await stateOf(invalid.id)).to.equal('failed');
    expect((await parkedRows(f.db)).find((p) => p.outbox_id === invalid.id)!.error).to.match(/title/);

    // Skip only touches failed events.
    expect(await skipFailed(f.db, [behind.id, invalid.id], 'title lost in a manual edit; reissued by hand')).to.deep.equal({ changed: [invalid.id], ignored: [behind.id] });
    await waitFor('the waiting event published', async () => (await streamIds()).includes(behind.event_id), 10_000);
    expect((await streamIds()).slice(before)).to.deep.equal([behind.event_id]);
    expect(await eventStatus(f.db, invalid.event_id)).to.include({ state: 'skipped', skip_reason: 'title lost in a manual edit; reissued by hand' });
  });
});
