// `statehub events tail`: prints envelopes from the stream as they arrive, one JSON line each,
// through an ordered consumer: ephemeral, flow-controlled, removed by the server when we leave,
// and never acking, so tailing cannot disturb the real consumers.
import { DeliverPolicy, type JetStreamClient } from 'nats';

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

/** Tails until signal aborts; resolves when the consumer has stopped. */
export async function tailEvents(js: JetStreamClient, opts: TailOptions, signal: AbortSignal): Promise<void> {
  const consumer = await js.consumers.get(opts.stream, {
    filterSubjects: opts.filter,
    deliver_policy: opts.from === 'start' ? DeliverPolicy.All : DeliverPolicy.New,
  });
  const messages = await consumer.consume();
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
