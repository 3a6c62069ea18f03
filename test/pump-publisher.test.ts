// The pump's lean publish path (src/pump/jetstream-publisher.ts) against a real nats-server:
// what it resolves and rejects must be what JetStream said, sorted by classify() exactly as the
// classic client's js.publish() errors are.
import { expect } from 'chai';
import { connect, ErrorCode, type NatsConnection } from 'nats';
import { JetStreamPublisher, PublishFailure } from '../src/pump/jetstream-publisher.ts';
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

  it('a refusal is permanent with JetStream\'s own code; no stream for the subject is transient', async () => {
    const p = new JetStreamPublisher(nc, 2000);
    try {
      const tooLarge = await p.publish('small.a', data('x'.repeat(200)), 'big').catch((e: unknown) => e);
      const refused = classify(tooLarge);
      expect(refused).to.be.instanceOf(PermanentPublishError);
      expect(refused.message).to.match(/JetStream refused: .*size.* \(10054\)/i);

      const nowhere = classify(await p.publish('nowhere.a', data('x'), 'n').catch((e: unknown) => e));
      expect(nowhere).to.be.instanceOf(TransientPublishError);
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

describe('pump: classify()', function () {
  const refusal = (code: number, err_code: number, description: string) => new PublishFailure(description, String(code), { code, err_code, description });
  // Only a refusal of the message itself parks it; whatever an operator can fix is retried.
  const table: Array<[string, unknown, 'permanent' | 'transient']> = [
    ['10054 message too large for the stream', refusal(400, 10054, 'message size exceeds maximum allowed'), 'permanent'],
    ['10097 headers too large', refusal(400, 10097, 'header size exceeds maximum allowed of 64k'), 'permanent'],
    ['larger than the server max_payload (client)', new PublishFailure('MAX_PAYLOAD_EXCEEDED', ErrorCode.MaxPayloadExceeded), 'permanent'],
    ['10002 account resource limits (a 400)', refusal(400, 10002, 'resource limits exceeded for account'), 'transient'],
    ['10023 insufficient resources', refusal(503, 10023, 'insufficient resources'), 'transient'],
    ['10047 insufficient storage', refusal(500, 10047, 'insufficient storage resources available'), 'transient'],
    ['10077 a discard-new stream is full', refusal(503, 10077, 'maximum bytes exceeded'), 'transient'],
    ['10060 another stream stores the subject', refusal(400, 10060, 'expected stream does not match'), 'transient'],
    ['a 400 with a code not known here', refusal(400, 19999, 'something new'), 'transient'],
    ['no responders (no stream)', new PublishFailure('no responders', ErrorCode.NoResponders), 'transient'],
    ['timeout', new PublishFailure('no PubAck within 5000 ms', ErrorCode.Timeout), 'transient'],
    ['disconnected', new PublishFailure('disconnected', ErrorCode.Disconnect), 'transient'],
    ['not an error object', 'boom', 'transient'],
  ];
  for (const [what, err, kind] of table) {
    it(`${what}: ${kind}`, () => {
      expect(classify(err)).to.be.instanceOf(kind === 'permanent' ? PermanentPublishError : TransientPublishError);
    });
  }

  it('says what JetStream said, with its err_code', () => {
    expect(classify(refusal(400, 10002, 'resource limits exceeded for account')).message).to.equal('JetStream refused: resource limits exceeded for account (10002)');
  });
});
