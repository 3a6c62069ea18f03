// The pump's lean publish path (src/pump/jetstream-publisher.ts) against a real nats-server:
// what it resolves and rejects must be what JetStream said, sorted by classify() exactly as the
// classic client's js.publish() errors are.
import { expect } from 'chai';
import { connect, type NatsConnection } from 'nats';
import { JetStreamPublisher } from '../src/pump/jetstream-publisher.ts';
import { classify, PermanentPublishError, TransientPublishError } from '../src/pump/publish.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { reconnected } from './helpers/pump.ts';

const data = (text: string) => new TextEncoder().encode(text);

describe('pump: lean JetStream publisher', function () {
  this.timeout(30_000);
  let nats: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'LEAN', subjects: ['lean.>'] });
    await jsm.streams.add({ name: 'SMALL', subjects: ['small.>'], max_msg_size: 64 });
  });
  after(async () => {
    await nc?.close();
    await nats?.close();
  });

  it('resolves with the stream and sequence of each ack, and duplicate for a msgID seen inside the window', async () => {
    const p = new JetStreamPublisher(nc, 2000);
    try {
      const acks = await Promise.all(Array.from({ length: 300 }, (_, i) => p.publish('lean.a', data(`m${i}`), `id-${i}`)));
      expect(acks.map((a) => a.seq)).to.deep.equal(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(acks.every((a) => a.stream === 'LEAN' && !a.duplicate)).to.equal(true);
      expect(await p.publish('lean.a', data('again'), 'id-7')).to.deep.equal({ stream: 'LEAN', seq: 8, duplicate: true });
      expect(p.inFlight).to.equal(0);
      const stored = await (await nc.jetstreamManager()).streams.getMessage('LEAN', { seq: 8 });
      expect(stored.header.get('Nats-Msg-Id')).to.equal('id-7');
      expect(new TextDecoder().decode(stored.data)).to.equal('m7');
    } finally {
      p.close();
    }
  });

  it('a refusal is permanent with JetStream\'s own code; no stream for the subject is transient trouble', async () => {
    const p = new JetStreamPublisher(nc, 2000);
    try {
      const tooLarge = await p.publish('small.a', data('x'.repeat(200)), 'big').catch((e: unknown) => e);
      const refused = classify(tooLarge);
      expect(refused).to.be.instanceOf(PermanentPublishError);
      expect(refused.message).to.match(/JetStream refused: .*size.* \(10054\)/i);

      const nowhere = classify(await p.publish('nowhere.a', data('x'), 'n').catch((e: unknown) => e));
      expect(nowhere).to.be.instanceOf(TransientPublishError);
      expect((nowhere as TransientPublishError).natsTrouble).to.equal(true);
    } finally {
      p.close();
    }
  });

  it('times out publishes the server never answers, and works again once it is back', async () => {
    const p = new JetStreamPublisher(nc, 400);
    try {
      await nats.stop();
      const started = Date.now();
      const err = await p.publish('lean.b', data('x'), 'while-down').catch((e: unknown) => e);
      expect(Date.now() - started).to.be.within(350, 1500);
      const failure = classify(err);
      expect(failure).to.be.instanceOf(TransientPublishError);
      expect((failure as TransientPublishError).natsTrouble).to.equal(true);
      expect(failure.message).to.match(/no PubAck within 400 ms/);
      await nats.start();
      await reconnected(nc);
      await (await nc.jetstreamManager()).streams.add({ name: 'LEAN', subjects: ['lean.>'] }).catch(() => undefined);
      expect((await p.publish('lean.b', data('x'), 'after-restart')).stream).to.equal('LEAN');
    } finally {
      p.close();
    }
  });

  it('close() fails what still waits and refuses new publishes', async () => {
    const p = new JetStreamPublisher(nc, 5000);
    await nats.stop();
    try {
      const waiting = p.publish('lean.c', data('x'), 'closed-1').catch((e: unknown) => e);
      p.close();
      expect(classify(await waiting).message).to.equal('publisher closed');
      expect(classify(await p.publish('lean.c', data('x'), 'closed-2').catch((e: unknown) => e))).to.be.instanceOf(TransientPublishError);
    } finally {
      await nats.start();
      await reconnected(nc);
    }
  });
});
