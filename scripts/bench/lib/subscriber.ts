// A subscriber that timestamps every message on arrival: an ordered consumer on one subject of
// a stream, delivering only messages stored after it started.
import { DeliverPolicy, type NatsConnection } from 'nats';
import { nowMs } from './stats.ts';

export interface Arrivals {
  /** Called with the parsed JSON payload and the arrival time (nowMs clock). */
  stop(): Promise<void>;
}

export async function subscribe(
  nc: NatsConnection,
  stream: string,
  subject: string,
  onMessage: (payload: Record<string, unknown>, arrivedAt: number) => void,
): Promise<Arrivals> {
  const js = nc.jetstream();
  const consumer = await js.consumers.get(stream, { filterSubjects: subject, deliver_policy: DeliverPolicy.New });
  const messages = await consumer.consume();
  const done = (async () => {
    for await (const m of messages) {
      const at = nowMs();
      onMessage(m.json<Record<string, unknown>>(), at);
    }
  })();
  return {
    async stop() {
      await messages.close();
      await done.catch(() => undefined);
    },
  };
}
