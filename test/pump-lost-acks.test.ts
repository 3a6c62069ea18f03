// A stream that loses messages it had acknowledged (src/pump/lost-acks.ts): nats-server 2.9 did
// so in a stream leader election on the 3-node test cluster, and any server does after a power
// loss. Here the tail of the stream's block file is cut while its server is down, as a lost
// page cache would; the stream comes back with the same creation time and fewer messages, and
// gives their sequences out again. The pump notices and publishes the lost events again; a
// stream deleted and created anew is left as it is.
import { expect } from 'chai';
import { rmSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { capturingLogger } from './helpers/log.ts';
import type { NatsServer } from './helpers/nats-server.ts';
import { allDelivered, insertWorkstreamRows, metric, probe, readStream, STREAM, usePump, waitFor, type PumpFixture } from './helpers/pump.ts';

/** Stops the server, keeps `share` of the stream's only block file (what a lost page cache leaves), and starts it again. */
async function cutStreamTail(nats: NatsServer, share: number): Promise<void> {
  await nats.stop();
  const msgs = path.join(nats.store, 'jetstream', '$G', 'streams', STREAM, 'msgs');
  truncateSync(path.join(msgs, '1.blk'), Math.floor(statSync(path.join(msgs, '1.blk')).size * share));
  for (const index of ['1.idx', '1.fss']) rmSync(path.join(msgs, index), { force: true });
  await nats.start();
}

async function streamBack(f: PumpFixture) {
  await waitFor('the stream back', async () => (await f.nc.jetstreamManager().then((m) => m.streams.info(STREAM)).catch(() => undefined)) !== undefined, 20_000);
  return (await f.nc.jetstreamManager()).streams.info(STREAM);
}

const counter = async (f: PumpFixture, name: string) => metric((await probe(f.pump.metricsPort, '/metrics')).body, name) ?? 0;

describe('pump: a stream that lost what it acknowledged', function () {
  this.timeout(60_000);
  const { log, lines } = capturingLogger('info');
  const f = usePump(undefined, { log });
  let written = 0;

  async function write(n: number): Promise<void> {
    await insertWorkstreamRows(f.db, n, 10, written);
    written += n;
    await waitFor('every event delivered', () => allDelivered(f.db), 20_000);
  }
  const restored = () => counter(f, 'statehub_pump_restored_total');
  const eventIds = async () => (await f.db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox ORDER BY id')).rows.map((r) => r.event_id);

  it('publishes again the events a restarted server lost, each once, and counts them', async function () {
    await write(100);
    const jsm = await f.nc.jetstreamManager();
    const before = await jsm.streams.info(STREAM);
    expect(before.state.last_seq).to.equal(100);

    await cutStreamTail(f.nats, 0.6);
    const after = await streamBack(f);
    expect(after.created, 'the same stream').to.equal(before.created);
    const lost = 100 - after.state.messages;
    expect(lost, 'the cut lost acknowledged messages').to.be.greaterThan(10);
    expect(after.state.last_seq).to.equal(100 - lost);

    await write(20);
    await waitFor('the lost events published again', async () => (await restored()) === lost, 20_000);
    const stream = await readStream(f.nc);
    expect(stream.map((m) => m.msgId).sort()).to.deep.equal((await eventIds()).sort());
    expect(lines.some((l) => l.includes('JetStream lost events it had acknowledged') && l.includes(`"from_seq":${101 - lost}`) && l.includes('"through_seq":100'))).to.equal(true);
  });

  it('a stream deleted and created anew is not filled with what the old one held', async function () {
    const jsm = await f.nc.jetstreamManager();
    const config = (await jsm.streams.info(STREAM)).config;
    await jsm.streams.delete(STREAM);
    await jsm.streams.add(config);
    const base = (await restored())!;

    // write() waits until they are recorded: after any look at what the first ack showed.
    await write(5);
    expect((await readStream(f.nc)).map((m) => m.msgId)).to.deep.equal((await eventIds()).slice(-5));
    expect(await restored()).to.equal(base);
  });
});

describe('pump: what it publishes again after a loss', function () {
  this.timeout(60_000);
  const f = usePump();

  it('only what it passed since the batch before the loss, not everything from the lowest id in it', async function () {
    // A transaction holds a low outbox id while 50 later events are delivered, then commits
    // with 50 more: the batch that holds its event starts at that low id.
    const holder = new pg.Client({ connectionString: f.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await insertWorkstreamRows(holder, 1, 1, 1000);
      await insertWorkstreamRows(f.db, 50, 10, 0);
      await waitFor('the first 50 delivered and recorded', () => allDelivered(f.db), 20_000);
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    await insertWorkstreamRows(f.db, 50, 10, 50);
    await waitFor('every event delivered', () => allDelivered(f.db), 20_000);

    await cutStreamTail(f.nats, 0.8);
    const after = await streamBack(f);
    const lost = 101 - after.state.messages;
    expect(after.state.messages, 'the first 50 kept').to.be.greaterThan(50);
    expect(lost).to.be.greaterThan(5);

    const duplicatesBefore = await counter(f, 'statehub_pump_duplicates_total');
    await insertWorkstreamRows(f.db, 5, 5, 200);
    await waitFor('the lost events published again', async () => (await counter(f, 'statehub_pump_restored_total')) === lost, 20_000);
    await waitFor('every event delivered', () => allDelivered(f.db), 20_000);
    const { rows } = await f.db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox');
    expect((await readStream(f.nc)).map((m) => m.msgId).sort()).to.deep.equal(rows.map((r) => r.event_id).sort());
    // Published again as duplicates: what the second batch kept, and the new events of the
    // delta given up on; from the lowest id it would have been the first 50 as well.
    expect((await counter(f, 'statehub_pump_duplicates_total')) - duplicatesBefore).to.be.below(50);
  });
});
