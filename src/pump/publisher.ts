// Publishes a batch of outbox rows to JetStream: many in flight, at most one per ordering key,
// each key's rows in id order. Reports what was acked, what to set aside and what to retry;
// it never writes to the database itself.
import { ErrorCode, type JetStreamClient, type NatsError } from 'nats';
import { CatalogError, toEnvelope } from '../events/catalog.ts';
import type { Ack, OutboxRow, RowError } from './outbox.ts';

/** JetStream or the client refused this message for good (too large, invalid): set it aside. */
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

export interface PublishedRow extends Ack {
  occurredAt: Date;
  duplicate: boolean;
}

export interface BatchOutcome {
  acked: PublishedRow[];
  setAside: RowError[];
  retry: RowError[];
  /** A failure said NATS itself is unwell: the caller backs off. */
  natsTrouble: boolean;
}

export interface PublisherOptions {
  publisher: string;
  maxInFlight: number;
  /** PubAck timeout in milliseconds. */
  timeoutMs?: number;
}

const encoder = new TextEncoder();

export async function publishBatch(
  js: JetStreamClient,
  rows: OutboxRow[],
  options: PublisherOptions,
  /** Checked before every publish: false once stopping or no longer leader. */
  mayContinue: () => boolean,
): Promise<BatchOutcome> {
  const outcome: BatchOutcome = { acked: [], setAside: [], retry: [], natsTrouble: false };
  // Lanes per ordering key; Map keeps first-seen order, so the oldest keys start first.
  const lanes = new Map<string, OutboxRow[]>();
  for (const row of rows) {
    const lane = lanes.get(row.ordering_key);
    if (lane) lane.push(row);
    else lanes.set(row.ordering_key, [row]);
  }
  const queue = [...lanes.values()];
  let abort = false;

  async function runLane(lane: OutboxRow[]): Promise<void> {
    for (const row of lane) {
      if (abort || !mayContinue()) return;
      let data: Uint8Array;
      try {
        data = encoder.encode(JSON.stringify(toEnvelope(row, options.publisher)));
      } catch (err) {
        if (!(err instanceof CatalogError)) throw err;
        outcome.setAside.push({ id: row.id, error: err.message });
        continue; // a bad row does not hold back its key
      }
      try {
        const ack = await js.publish(row.subject, data, { msgID: row.event_id, timeout: options.timeoutMs });
        outcome.acked.push({ id: row.id, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate, occurredAt: row.occurred_at });
      } catch (err) {
        const failure = classify(err);
        if (failure instanceof PermanentPublishError) {
          outcome.setAside.push({ id: row.id, error: failure.message });
          continue;
        }
        outcome.retry.push({ id: row.id, error: failure.message });
        if (failure.natsTrouble) {
          outcome.natsTrouble = true;
          abort = true;
        }
        return; // the key's later rows wait for this one
      }
    }
  }

  async function worker(): Promise<void> {
    for (let lane = queue.shift(); lane; lane = queue.shift()) await runLane(lane);
  }
  // One worker per in-flight slot, each with at most one publish outstanding.
  await Promise.all(Array.from({ length: Math.min(options.maxInFlight, queue.length) }, worker));
  return outcome;
}
