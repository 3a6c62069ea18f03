// The stream changing under a running pump: deleted (the pump creates it again, with its
// duplicate window), its subjects changed so ours are no longer in it (the pump stops publishing
// and says so on /readyz; a stream that took the subjects gets nothing, because every publish
// names the stream it expects), and a stream whose duplicate window is shorter than asked for
// (a warning at start; past the window a re-published delta is stored twice, as documented).
import { expect } from 'chai';
import { nanos } from 'nats';
import { loadConfig } from '../src/config.ts';
import { startPump } from '../src/pump/index.ts';
import { capturingLogger } from './helpers/log.ts';
import { allDelivered, insertWorkstreamRows, parkedRows, pendingCount, probe, readStream, STREAM, usePump, waitFor } from './helpers/pump.ts';

const DAY_NS = nanos(86_400_000);

describe('pump: the stream changes at runtime', function () {
  const f = usePump();
  const jsm = () => f.nc.jetstreamManager();
  const readyz = () => probe(f.pump.metricsPort, '/readyz');
  const streamInfo = async () => (await jsm()).streams.info(STREAM).catch(() => undefined);

  it('creates its stream with a 24 h duplicate window', async function () {
    await waitFor('the stream', async () => (await streamInfo()) !== undefined, 10_000);
    expect((await streamInfo())!.config).to.include({ duplicate_window: DAY_NS });
  });

  it('deleted: created again when events come, and they arrive', async function () {
    await insertWorkstreamRows(f.db, 3, 3);
    await waitFor('the first events', () => allDelivered(f.db), 10_000);
    await (await jsm()).streams.delete(STREAM);
    await insertWorkstreamRows(f.db, 6, 3, 3);
    await waitFor('the events after the deletion', () => allDelivered(f.db), 20_000);
    const stream = await streamInfo();
    expect(stream!.config).to.deep.include({ subjects: ['org.>'], duplicate_window: DAY_NS });
    expect((await readStream(f.nc)).map((m) => (m.envelope.attributes as { workstream_id: number }).workstream_id)).to.have.members([4, 5, 6, 7, 8, 9]);
    expect(await parkedRows(f.db)).to.deep.equal([]);
    expect((await readyz()).status).to.equal(200);
  });

  it('deleted while nothing is published: created again within the periodic check', async function () {
    await (await jsm()).streams.delete(STREAM);
    await waitFor('the stream created again', async () => (await streamInfo()) !== undefined, 15_000, 200);
  });

  it('its subjects no longer hold ours: not ready, events wait (none parked, none in the stream that took them), and flow once restored', async function () {
    const manager = await jsm();
    const config = (await manager.streams.info(STREAM)).config;
    await manager.streams.update(STREAM, { ...config, subjects: ['elsewhere.>'] });
    await manager.streams.add({ name: 'INTRUDER', subjects: ['org.statehub.>'] });
    try {
      await insertWorkstreamRows(f.db, 4, 2, 100);
      await waitFor('/readyz to say why', async () => (await readyz()).body.includes(`stream ${STREAM}`), 15_000, 100);
      const ready = await readyz();
      expect(ready.status).to.equal(503);
      expect(ready.body).to.match(/cannot hold org\.statehub\.>|another stream/);
      expect((await manager.streams.info('INTRUDER')).state.messages, 'nothing went to the other stream').to.equal(0);
      expect(await pendingCount(f.db)).to.equal(4);
      expect(await parkedRows(f.db)).to.deep.equal([]);
    } finally {
      await manager.streams.delete('INTRUDER');
      await manager.streams.update(STREAM, { ...config, subjects: ['org.>'] });
    }
    await waitFor('the events once the subjects are back', () => allDelivered(f.db), 30_000);
    expect((await readyz()).status).to.equal(200);
    expect(await parkedRows(f.db)).to.deep.equal([]);
  });
});

describe('pump: a stream with a short duplicate window', function () {
  const f = usePump(async (nc) => {
    await (await nc.jetstreamManager()).streams.add({ name: STREAM, subjects: ['org.>'], duplicate_window: nanos(1000) });
  });

  /** Waits until JetStream has forgotten a message id: its window has passed for everything stored before. */
  async function windowPassed(): Promise<void> {
    const js = f.nc.jetstream();
    const probeData = new TextEncoder().encode('{}');
    await js.publish('org.probe', probeData, { msgID: 'window-probe' });
    await waitFor('the duplicate window to pass', async () => !(await js.publish('org.probe', probeData, { msgID: 'window-probe' })).duplicate, 10_000, 200);
  }

  it('warns at start; a delta re-published after the window is stored again, with the same envelope ids', async function () {
    const { rows } = await f.db.query<{ id: number }>('SELECT max(id)::int AS id FROM statehub.outbox_batches');
    await insertWorkstreamRows(f.db, 5, 5);
    await waitFor('the events', () => allDelivered(f.db), 10_000);
    await f.pump.stop();
    // As if the pump died after the PubAcks and before its batch row (or PostgreSQL lost it in a crash).
    await f.db.query('DELETE FROM statehub.outbox_batches WHERE id > $1', [rows[0]!.id]);
    expect(await pendingCount(f.db)).to.equal(5);
    await windowPassed();

    const { log, lines } = capturingLogger('info');
    const pump = await startPump(loadConfig({ DATABASE_URL: f.url, NATS_URL: f.nats.url, PUMP_METRICS_PORT: '0', PUMP_POLL_INTERVAL: '1m' }), log);
    try {
      await waitFor('the events again', () => allDelivered(f.db), 10_000);
      const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).includes('less than STREAM_DUPLICATE_WINDOW'));
      expect(warning, 'the start warns about the short window').to.include({ level: 'warn', duplicate_window_ms: 1000, wanted_ms: 86_400_000 });
    } finally {
      await pump.stop();
    }
    const events = (await readStream(f.nc)).filter((m) => m.subject !== 'org.probe');
    expect(events).to.have.length(10);
    const ids = events.map((m) => m.envelope.id);
    expect(new Set(ids).size, 'each envelope id twice: the consumer deduplicates on it').to.equal(5);
    expect(events.every((m) => m.msgId === m.envelope.id)).to.equal(true);
  });
});
