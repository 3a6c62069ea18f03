// Publishing one event as its envelope, and how a failed publish is handled: permanent (the
// event is parked and blocks its key) or transient (retried with the same msgID; JetStream's
// duplicate window makes that safe).
import { ErrorCode, type NatsError } from 'nats';
import { CatalogError, toEnvelope } from '../events/catalog.ts';
import type { JetStreamPublisher } from './jetstream-publisher.ts';
import type { Publisher } from './lanes.ts';

/** JetStream or the client refused this message for good (too large, invalid): park it. */
export class PermanentPublishError extends Error {
  override name = 'PermanentPublishError';
}

/** Worth retrying with the same msgID: timeout, no responders, disconnected, limits. */
export class TransientPublishError extends Error {
  override name = 'TransientPublishError';
  constructor(
    message: string,
    /** The connection or JetStream itself is in trouble, not this message: stop the batch. */
    readonly natsTrouble: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const TROUBLE_CODES = new Set<string>([ErrorCode.Timeout, ErrorCode.NoResponders, ErrorCode.ConnectionClosed, ErrorCode.Disconnect, ErrorCode.ConnectionDraining, ErrorCode.ConnectionRefused]);

/** Sorts a publish failure into the two kinds the pump acts on. */
export function classify(err: unknown): PermanentPublishError | TransientPublishError {
  const ne = err as NatsError;
  const message = (err as Error)?.message ?? String(err);
  if (ne?.code === ErrorCode.MaxPayloadExceeded) return new PermanentPublishError(message, { cause: err });
  // JetStream answers 400 for a message it will never take (e.g. err_code 10054, too large for the stream).
  if (ne?.api_error && ne.api_error.code === 400) {
    return new PermanentPublishError(`JetStream refused: ${ne.api_error.description} (${ne.api_error.err_code})`, { cause: err });
  }
  return new TransientPublishError(message, TROUBLE_CODES.has(String(ne?.code)) || !ne?.api_error, { cause: err });
}

const encoder = new TextEncoder();

/**
 * Publishes an outbox row as its envelope, with the event id as Nats-Msg-Id. A row the catalog
 * refuses fails as permanent; no JetStream (NATS not usable) as transient.
 */
export function envelopePublisher(publisher: string, jetstream: () => JetStreamPublisher | undefined): Publisher {
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
    return js.publish(row.subject, data, row.event_id);
  };
}
