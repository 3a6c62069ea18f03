// `statehub events tail`: prints envelopes from the stream as they arrive, one JSON line each,
// through an ordered consumer: ephemeral, flow-controlled, removed by the server when we leave,
// and never acking, so tailing cannot disturb the real consumers.
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type OrderedConsumerOptions } from 'nats';

export interface TailOptions {
  stream: string;
  filter: string;
  /** From the first message still in the stream, or only messages that arrive from now on. */
  from: 'start' | 'new';
  /** Receives each message as one line (without the newline). */
  write(line: string): void;
  /** Told about messages that are not JSON (the stream may hold other publishers' subjects). */
  warn(text: string): void;
  /** Called once the consumer exists on the server: from here on nothing new is missed. */
  ready?(): void;
}

/**
 * Where the consumer starts. "Everything" is sequence 1 (the server starts at the first message
 * it still has), not DeliverPolicy.All: nats.js's ordered consumer sends All together with a
 * start sequence, which nats-server refuses ("deliver all, but optional start sequence is also
 * set") and nats.js then retries for ~15 minutes.
 */
export function startOptions(from: TailOptions['from']): Partial<OrderedConsumerOptions> {
  return from === 'start' ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 } : { deliver_policy: DeliverPolicy.New };
}

/** Tails until signal aborts; resolves promptly on abort, even while the consumer is being created. */
export async function tailEvents(js: JetStreamClient, opts: TailOptions, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  const creating = (async () => {
    const consumer = await js.consumers.get(opts.stream, { filterSubjects: opts.filter, ...startOptions(opts.from) });
    return consumer.consume();
  })();
  let onAbort!: () => void;
  const aborted = new Promise<undefined>((resolve) => signal.addEventListener('abort', (onAbort = () => resolve(undefined)), { once: true }));
  let messages: ConsumerMessages | undefined;
  try {
    messages = await Promise.race([creating, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (!messages) {
    // Created after all (or failing) once we are gone: stop it, the caller closes the connection.
    void creating.then((m) => m.stop(), () => undefined);
    return;
  }
  const stop = () => void messages.stop();
  if (signal.aborted) stop();
  signal.addEventListener('abort', stop, { once: true });
  opts.ready?.();
  try {
    for await (const m of messages) {
      const text = m.string();
      try {
        // Re-serialized so every envelope is exactly one line whatever the publisher wrote.
        opts.write(JSON.stringify(JSON.parse(text)));
      } catch {
        opts.warn(`${m.subject} #${m.seq}: not JSON, skipped`);
      }
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
}
