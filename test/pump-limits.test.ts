// JetStream out of room is not the event's fault: with the account's storage full (JetStream
// answers 400, err_code 10002) the pump keeps its events pending and retries them, and once an
// operator makes room every one arrives, in order, none parked. Before classify() looked at the
// err_code, every 400 was taken as a refusal for good and the whole backlog was parked.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { allDelivered, insertWorkstreamRows, metric, parkedRows, pendingCount, probe, readStream, STREAM, usePump, waitFor } from './helpers/pump.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'statehub-limits-'));
const conf = path.join(dir, 'nats.conf');
// One account whose JetStream file storage holds only a few kilobytes: once purged, room for the
// test's 12 events (about 550 bytes each as stored, with their headers) and not much more.
writeFileSync(conf, 'accounts { APP: { jetstream: { max_file: 12000, max_mem: 0 }, users: [{ user: app, password: app-secret }] } }\n');

describe('pump: JetStream storage full', function () {
  after(() => rmSync(dir, { recursive: true, force: true }));
  const f = usePump(undefined, { natsArgs: ['-c', conf], env: { NATS_USER: 'app', NATS_PASSWORD: 'app-secret' } });

  /** Fills what the account has left with messages of another subject, which the test removes later. */
  async function fill(): Promise<number> {
    const js = f.nc.jetstream();
    const filler = new TextEncoder().encode(JSON.stringify({ filler: 'x'.repeat(240) }));
    for (let i = 0; ; i++) {
      try {
        await js.publish('org.filler', filler);
      } catch (err) {
        expect((err as { api_error?: { err_code?: number } }).api_error?.err_code).to.equal(10002);
        return i;
      }
    }
  }

  async function errors(): Promise<number> {
    return metric((await probe(f.pump.metricsPort, '/metrics')).body, 'statehub_pump_publish_errors_total') ?? 0;
  }

  it('keeps the events pending while the account is full, and publishes every one, in order, once there is room', async function () {
    await waitFor('the pump created its stream', async () => (await f.nc.jetstreamManager()).streams.info(STREAM).then(() => true, () => false), 10_000);
    const fillers = await fill();
    expect(fillers).to.be.greaterThan(0);

    await insertWorkstreamRows(f.db, 12, 3);
    // Refused, retried, refused again: three refusals are enough to have parked them before.
    await waitFor('the pump to meet the full account three times', async () => (await errors()) >= 3, 20_000);
    expect(await parkedRows(f.db)).to.deep.equal([]);
    expect(await pendingCount(f.db)).to.equal(12);
    expect((await (await f.nc.jetstreamManager()).streams.info(STREAM)).state.messages, 'only the fillers are stored').to.equal(fillers);

    // The operator makes room (only fillers are stored, so purge them all): the retries go through.
    await (await f.nc.jetstreamManager()).streams.purge(STREAM);
    await waitFor('every event delivered', () => allDelivered(f.db), 30_000);
    expect(await parkedRows(f.db)).to.deep.equal([]);
    const events = (await readStream(f.nc)).filter((m) => m.subject !== 'org.filler');
    expect(events).to.have.length(12);
    expect(new Set(events.map((m) => m.msgId)).size).to.equal(12);
    const { rows } = await f.db.query<{ event_id: string; ordering_key: string }>('SELECT event_id, ordering_key FROM statehub.outbox ORDER BY id');
    for (const key of new Set(rows.map((r) => r.ordering_key))) {
      const expected = rows.filter((r) => r.ordering_key === key).map((r) => r.event_id);
      expect(events.map((m) => m.msgId).filter((id) => expected.includes(id!)), `order of ${key}`).to.deep.equal(expected);
    }
  });
});
