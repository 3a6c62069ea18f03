// The lanes' rules, driven by a scripted publisher (the real client is exercised by the pump
// tests): a window of publishes, one at a time per key in id order, a transient failure holds
// only its key until the retry succeeds, a permanent one blocks the key for good.
import { expect } from 'chai';
import { silentLogger } from '../src/logger.ts';
import { Lanes, type LaneRow, type LanesOptions } from '../src/pump/lanes.ts';
import type { OutboxRow } from '../src/pump/outbox.ts';
import { PermanentPublishError, TransientPublishError } from '../src/pump/publish.ts';

const row = (id: number, key: string, blocked = false): LaneRow => ({
  id, event_id: `e${id}`, subject: 'org.statehub.workstream.completed', ordering_key: key, attributes: {}, occurred_at: new Date(), blocked,
});

/** A publisher that answers each publish after `ms`, failing as `fail` says; records the order of sends. */
function scripted(fail: (r: OutboxRow, attempt: number) => Error | undefined, ms = 2) {
  const sent: number[] = [];
  const attempts = new Map<number, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const keysInFlight = new Set<string>();
  let sameKeyOverlap = false;
  const publish = (r: OutboxRow) => {
    sent.push(r.id);
    const attempt = (attempts.get(r.id) ?? 0) + 1;
    attempts.set(r.id, attempt);
    if (keysInFlight.has(r.ordering_key)) sameKeyOverlap = true;
    keysInFlight.add(r.ordering_key);
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    return new Promise<{ stream: string; seq: number; duplicate: boolean }>((resolve, reject) =>
      setTimeout(() => {
        inFlight--;
        keysInFlight.delete(r.ordering_key);
        const err = fail(r, attempt);
        if (err) reject(err);
        else resolve({ stream: 'S', seq: r.id, duplicate: false });
      }, ms),
    );
  };
  return { publish, sent, attempts, stats: () => ({ maxInFlight, sameKeyOverlap }) };
}

/** Lanes with their acks collected in `acked`. */
function lanes(publish: ReturnType<typeof scripted>['publish'], maxInFlight = 4, options: Partial<LanesOptions> = {}): Lanes & { acked: number[] } {
  const acked: number[] = [];
  const l = new Lanes({
    publish, maxInFlight, retryTransient: true, mayContinue: () => true, canPublish: () => true,
    onAck: (a) => acked.push(a.id), onError: () => undefined, log: silentLogger(), ...options,
  });
  return Object.assign(l, { acked });
}

describe('pump lanes', function () {
  it('keeps at most maxInFlight publishes out, one per key, each key in id order', async () => {
    const p = scripted(() => undefined);
    const l = lanes(p.publish, 4);
    const rows = Array.from({ length: 60 }, (_, i) => row(i + 1, `k${i % 6}`));
    l.add(rows.slice(0, 30));
    l.add(rows.slice(30));
    expect(await l.close()).to.equal('done');
    expect([...l.acked].sort((a, b) => a - b)).to.deep.equal(rows.map((r) => r.id));
    expect(p.stats()).to.deep.equal({ maxInFlight: 4, sameKeyOverlap: false });
    for (let k = 0; k < 6; k++) {
      const ofKey = p.sent.filter((id) => (id - 1) % 6 === k);
      expect(ofKey).to.deep.equal([...ofKey].sort((a, b) => a - b));
    }
  });

  it('a transient failure holds only its key, and its later rows go after the retry succeeds', async () => {
    const p = scripted((r, attempt) => (r.id === 1 && attempt < 3 ? new TransientPublishError('timeout') : undefined));
    const l = lanes(p.publish);
    l.add([row(1, 'a'), row(2, 'a'), row(3, 'b'), row(4, 'b'), row(5, 'c')]);
    expect(await l.close()).to.equal('done');
    expect(p.attempts.get(1)).to.equal(3);
    const at = (id: number) => p.sent.lastIndexOf(id);
    expect(at(2), 'row 2 after the successful retry of row 1').to.be.greaterThan(at(1));
    expect(at(4), 'key b did not wait for key a').to.be.lessThan(at(1));
    expect(l.parked).to.deep.equal([]);
  });

  it('a permanent failure parks the row as failed and the rest of its key as waiting, now and in later pages', async () => {
    const p = scripted((r) => (r.id === 2 ? new PermanentPublishError('too large') : undefined));
    const l = lanes(p.publish);
    l.add([row(1, 'a'), row(2, 'a'), row(3, 'a'), row(4, 'b')]);
    await new Promise((r) => setTimeout(r, 30));
    l.add([row(5, 'a'), row(6, 'c', true), row(7, 'c'), row(8, 'b')]);
    expect(await l.close()).to.equal('done');
    expect([...l.acked].sort()).to.deep.equal([1, 4, 8]);
    expect(l.parked).to.deep.equal([
      { id: 2, key: 'a', state: 'failed', error: 'too large' },
      { id: 3, key: 'a', state: 'waiting' },
      { id: 5, key: 'a', state: 'waiting' },
      { id: 6, key: 'c', state: 'waiting' },
      { id: 7, key: 'c', state: 'waiting' },
    ]);
    expect(p.sent).not.to.include.members([3, 5, 6, 7]);
  });

  it('an event that keeps failing transiently while others go through is parked as waiting, with its key', async () => {
    const p = scripted((r) => (r.id === 1 ? new TransientPublishError('no PubAck within 5000 ms') : undefined));
    const l = lanes(p.publish, 4, { stuckAfterMs: 150 });
    l.add([row(1, 'a'), row(2, 'a')]);
    // Other keys keep succeeding meanwhile.
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 40));
      l.add([row(10 + i, `k${i}`)]);
    }
    l.add([row(3, 'a')]);
    expect(await l.close()).to.equal('done');
    expect(l.parked).to.deep.equal([
      { id: 1, key: 'a', state: 'waiting', error: 'no PubAck within 5000 ms' },
      { id: 2, key: 'a', state: 'waiting' },
      { id: 3, key: 'a', state: 'waiting' },
    ]);
    expect(p.sent).not.to.include.members([2, 3]);
  });

  it('while everything fails (NATS down), nothing is parked: the lanes wait', async () => {
    let down = true;
    const p = scripted(() => (down ? new TransientPublishError('timeout') : undefined));
    const l = lanes(p.publish, 4, { stuckAfterMs: 50 });
    l.add([row(1, 'a'), row(2, 'b')]);
    setTimeout(() => (down = false), 400);
    expect(await l.close()).to.equal('done');
    expect(l.parked).to.deep.equal([]);
    expect([...l.acked].sort()).to.deep.equal([1, 2]);
  });

  it('releasing parked events (no retry here): a transient failure leaves the key\'s rows for another round', async () => {
    const p = scripted((r) => (r.id === 2 ? new TransientPublishError('timeout') : undefined));
    const l = lanes(p.publish, 4, { retryTransient: false });
    l.add([row(1, 'a'), row(2, 'b'), row(3, 'b'), row(4, 'c')]);
    expect(await l.close()).to.equal('done');
    expect([...l.acked].sort()).to.deep.equal([1, 4]);
    expect(l.left).to.deep.equal([2, 3]);
    expect(l.parked).to.deep.equal([]);
  });

  it('abort resolves at once and sends nothing more', async () => {
    const p = scripted(() => undefined, 50);
    const l = lanes(p.publish, 1);
    l.add([row(1, 'a'), row(2, 'b'), row(3, 'c')]);
    l.abort();
    expect(await l.close()).to.equal('aborted');
    await new Promise((r) => setTimeout(r, 80));
    expect(p.sent).to.deep.equal([1]);
    expect(l.acked).to.deep.equal([]);
  });
});
