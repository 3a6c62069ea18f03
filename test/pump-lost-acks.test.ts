// A stream that loses messages it had acknowledged (src/pump/lost-acks.ts): nats-server 2.9 did
// so in a stream leader election on the 3-node test cluster, and any server does after a power
// loss. Here the tail of the stream's block file is cut while its server is down, as a lost
// page cache would; the stream comes back with the same creation time and fewer messages, and
// gives their sequences out again. The pump notices and publishes the lost events again; a
// stream deleted and created anew is left as it is.
import { expect } from 'chai';
import { rmSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { capturingLogger } from './helpers/log.ts';
import { allDelivered, insertWorkstreamRows, metric, probe, readStream, STREAM, usePump, waitFor } from './helpers/pump.ts';

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
  const restored = async () => metric((await probe(f.pump.metricsPort, '/metrics')).body, 'statehub_pump_restored_total');
  const eventIds = async () => (await f.db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox ORDER BY id')).rows.map((r) => r.event_id);

  it('publishes again the events a restarted server lost, each once, and counts them', async function () {
    await write(100);
    const jsm = await f.nc.jetstreamManager();
    const before = await jsm.streams.info(STREAM);
    expect(before.state.last_seq).to.equal(100);

    await f.nats.stop();
    const msgs = path.join(f.nats.store, 'jetstream', '$G', 'streams', STREAM, 'msgs');
    truncateSync(path.join(msgs, '1.blk'), Math.floor(statSync(path.join(msgs, '1.blk')).size * 0.6));
    for (const index of ['1.idx', '1.fss']) rmSync(path.join(msgs, index), { force: true });
    await f.nats.start();
    await waitFor('the stream back', async () => (await f.nc.jetstreamManager().then((m) => m.streams.info(STREAM)).catch(() => undefined)) !== undefined, 20_000);
    const after = await (await f.nc.jetstreamManager()).streams.info(STREAM);
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

    await write(5);
    await waitFor('the new stream noticed', () => lines.some((l) => l.includes('JetStream stream was created anew')), 10_000);
    expect((await readStream(f.nc)).map((m) => m.msgId)).to.deep.equal((await eventIds()).slice(-5));
    expect(await restored()).to.equal(base);
  });
});
