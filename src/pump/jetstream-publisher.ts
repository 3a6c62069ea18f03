// A lean JetStream publish path for the pump. The classic client's js.publish() is a request:
// per message it makes a request object with its own timer and promise chain, and builds an
// error after every ack; with 20,000+ publishes a second that is a large share of the pump's
// CPU (docs/benchmarks.md). Here one wildcard subscription receives every PubAck, a publish is
// a plain nc.publish() with a reply subject and the Nats-Msg-Id header, and one timer sweeps
// publishes whose ack is overdue. What JetStream answers is the same; so are the errors the
// pump sorts (classify() in publish.ts): api_error for a refusal, the client's codes otherwise.
import { createInbox, ErrorCode, headers, type Msg, type NatsConnection, type NatsError, type Subscription } from 'nats';

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** Shaped like the client's NatsError where classify() looks: code, and api_error for JetStream's answers. */
export class PublishFailure extends Error {
  override name = 'PublishFailure';
  constructor(
    message: string,
    readonly code: string,
    readonly api_error?: { code: number; err_code?: number; description: string },
  ) {
    super(message);
  }
}

interface Waiting {
  resolve(ack: PubAck): void;
  reject(err: Error): void;
  deadline: number;
}

const decoder = new TextDecoder();
/** JetStream's err_code for "expected stream does not match". */
const STREAM_NOT_MATCH = 10060;
/** How often overdue acks are looked for: a timeout fires at most this much late. */
const SWEEP_MS = 100;

export class JetStreamPublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  /** In publish order, hence in deadline order: the sweep stops at the first that is not due. */
  private readonly waiting = new Map<number, Waiting>();
  private next = 0;
  private readonly sweep: NodeJS.Timeout;
  private closed = false;
  /** Since when publishes have gone unanswered or found no stream, and the last such failure; cleared by an ack. */
  private unanswered: { since: number; reason: string } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
    private readonly pin: {
      /** Sent as Nats-Expected-Stream: another stream that took our subjects refuses (10060) instead of storing. */
      stream: string;
      /**
       * No stream answered for the subject (503): it was deleted, or its servers are electing a
       * leader. Whoever owns the stream should look; the publish is retried either way.
       */
      onNoResponders(): void;
      /** Another stream than ours stores the subject: publishing must stop until an operator acts. */
      onMismatch(why: string): void;
    } | undefined = undefined,
  ) {
    this.prefix = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.answer(err, msg) });
    this.sweep = setInterval(() => this.expire(), SWEEP_MS);
    this.sweep.unref();
  }

  /** How many publishes await their ack. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /**
   * Publishes have found no stream, or no answer, since `since` (Date.now()) and none was acked
   * since: a stream leader election, a cluster without quorum, a stream deleted.
   */
  get outage(): { since: number; reason: string } | undefined {
    return this.unanswered;
  }

  private failedUnanswered(reason: string): void {
    this.unanswered = { since: this.unanswered?.since ?? Date.now(), reason };
  }

  /** `extra`: more headers for the message (the pump's origin headers). */
  publish(subject: string, data: Uint8Array, msgID: string, extra?: Record<string, string>): Promise<PubAck> {
    if (this.closed) return Promise.reject(new PublishFailure('publisher closed', ErrorCode.ConnectionClosed));
    const token = ++this.next;
    const h = headers();
    h.set('Nats-Msg-Id', msgID);
    if (this.pin) h.set('Nats-Expected-Stream', this.pin.stream);
    for (const [name, value] of Object.entries(extra ?? {})) h.set(name, value);
    return new Promise<PubAck>((resolve, reject) => {
      try {
        this.nc.publish(subject, data, { reply: `${this.prefix}${token}`, headers: h });
      } catch (err) {
        // Too large for the server, or the connection is closed or draining: as the client says it.
        return reject(err as NatsError);
      }
      this.waiting.set(token, { resolve, reject, deadline: performance.now() + this.timeoutMs });
    });
  }

  private answer(err: NatsError | null, msg: Msg): void {
    if (err) return; // the subscription itself failed (connection closing): the sweep times the rest out
    const token = Number(msg.subject.slice(this.prefix.length));
    const w = this.waiting.get(token);
    if (!w) return; // answered after its timeout: the pump has moved on (and will publish it again)
    this.waiting.delete(token);
    if (msg.data.length === 0) {
      // A status message, not an ack: 503 when no stream listens on the subject.
      const code = msg.headers?.code ?? 0;
      if (code === 503) {
        this.failedUnanswered('no responders: no stream leader stores the subject');
        this.pin?.onNoResponders();
        return w.reject(new PublishFailure('no responders: no JetStream stream stores the subject', ErrorCode.NoResponders));
      }
      return w.reject(new PublishFailure(`unexpected status ${code} ${msg.headers?.description ?? ''}`.trim(), String(code)));
    }
    let reply: { stream?: string; seq?: number; duplicate?: boolean; error?: { code: number; err_code?: number; description: string } };
    try {
      reply = JSON.parse(decoder.decode(msg.data));
    } catch {
      return w.reject(new PublishFailure('the PubAck is not JSON', ErrorCode.JetStreamInvalidAck));
    }
    if (reply.error) {
      if (reply.error.err_code === STREAM_NOT_MATCH) this.pin?.onMismatch(`another stream than ${this.pin.stream} stores the subject`);
      return w.reject(new PublishFailure(reply.error.description, String(reply.error.code), reply.error));
    }
    if (!reply.stream || typeof reply.seq !== 'number') return w.reject(new PublishFailure('invalid PubAck', ErrorCode.JetStreamInvalidAck));
    this.unanswered = undefined;
    w.resolve({ stream: reply.stream, seq: reply.seq, duplicate: reply.duplicate === true });
  }

  /** A monotonic clock: a wall-clock step back must not stop timeouts. */
  private expire(): void {
    const now = performance.now();
    for (const [token, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(token);
      this.failedUnanswered(`no PubAck within ${this.timeoutMs} ms`);
      w.reject(new PublishFailure(`no PubAck within ${this.timeoutMs} ms`, ErrorCode.Timeout));
    }
  }

  /** Fails what still waits and stops listening; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
    for (const w of this.waiting.values()) w.reject(new PublishFailure('publisher closed', ErrorCode.ConnectionClosed));
    this.waiting.clear();
    if (!this.nc.isClosed()) this.sub.unsubscribe();
  }
}
