// Publishing one event as its envelope, and how a failed publish is handled: permanent (the
// event is parked and blocks its key) or transient (retried with the same msgID; JetStream's
// duplicate window makes that safe).
import { ErrorCode, type NatsError } from 'nats';
import { CatalogError, toEnvelope } from '../events/catalog.ts';
import type { JetStreamPublisher } from './jetstream-publisher.ts';
import type { Publisher } from './lanes.ts';
import type { Origin } from './origin.ts';

/** JetStream or the client refused this message for good (too large, invalid): park it. */
export class PermanentPublishError extends Error {
  override name = 'PermanentPublishError';
}

/**
 * Worth retrying with the same msgID: timeout, no responders, disconnected, limits, storage
 * full. Each is the connection's, the server's or the stream's trouble, not this message's.
 */
export class TransientPublishError extends Error {
  override name = 'TransientPublishError';
  /**
   * No answer, or no stream leader to answer (a stream leader election, a server restart, a
   * partition), rather than a refusal: it ends without anyone acting, so it is retried often.
   */
  readonly unanswered: boolean;
  constructor(message: string, options: ErrorOptions & { unanswered?: boolean } = {}) {
    super(message, options);
    this.unanswered = options.unanswered ?? true;
  }
}

/**
 * The JetStream err_codes that refuse the message itself, so sending it again cannot succeed.
 * Every other refusal is about the stream or the server and passes once an operator acts:
 * 10002 (account resource limits, answered with 400), 10023 and 10047 (insufficient resources,
 * storage full), 10077 (a discard-new stream is full), 10060 (the subject is stored by another
 * stream than the one expected)... Those are retried; parking them would park every event.
 */
const REFUSED_FOR_GOOD: ReadonlySet<number> = new Set([
  10054, // the message is larger than the stream's max_msg_size
  10097, // its headers are larger than JetStream allows
]);

/** Sorts a publish failure into the two kinds the pump acts on. */
export function classify(err: unknown): PermanentPublishError | TransientPublishError {
  const ne = err as NatsError;
  const message = (err as Error)?.message ?? String(err);
  // Larger than the server's max_payload: the client refuses it before sending.
  if (ne?.code === ErrorCode.MaxPayloadExceeded) return new PermanentPublishError(message, { cause: err });
  const api = ne?.api_error;
  if (api) {
    const described = `JetStream refused: ${api.description} (${api.err_code ?? api.code})`;
    if (api.err_code !== undefined && REFUSED_FOR_GOOD.has(api.err_code)) return new PermanentPublishError(described, { cause: err });
    return new TransientPublishError(described, { cause: err, unanswered: false });
  }
  return new TransientPublishError(message, { cause: err });
}

const encoder = new TextEncoder();

/** Headers naming the database an event was published from: a consumer sees a failover as a new timeline. */
export const ORIGIN_HEADERS = { system: 'Statehub-Db-System', timeline: 'Statehub-Db-Timeline' } as const;

/**
 * Publishes an outbox row as its envelope, with the event id as Nats-Msg-Id and the database's
 * origin as headers. A row the catalog refuses fails as permanent; no JetStream (NATS not
 * usable) as transient.
 */
export function envelopePublisher(publisher: string, jetstream: () => JetStreamPublisher | undefined, origin: () => Origin | undefined): Publisher {
  let headersOf: Origin | undefined;
  let extra: Record<string, string> | undefined;
  return (row) => {
    let data: Uint8Array;
    try {
      data = encoder.encode(JSON.stringify(toEnvelope(row, publisher)));
    } catch (err) {
      if (err instanceof CatalogError) return Promise.reject(new PermanentPublishError(err.message, { cause: err }));
      throw err;
    }
    const js = jetstream();
    if (!js) return Promise.reject(new Error('NATS is not usable'));
    const o = origin();
    if (o !== headersOf) {
      headersOf = o; // built once per confirmed origin, not per message
      extra = o && { [ORIGIN_HEADERS.system]: o.system, [ORIGIN_HEADERS.timeline]: String(o.timeline) };
    }
    return js.publish(row.subject, data, row.event_id, extra);
  };
}
