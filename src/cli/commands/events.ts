// statehub events tail [SUBJECT] [--since-start | --new]
// src/cli/main.ts parses and checks the arguments.
import { setTimeout as delay } from 'node:timers/promises';
import { withJetStream } from '../../pump/nats.ts';
import { tailEvents, type TailOptions } from '../../pump/tail.ts';
import { toolLogger } from '../tools/common.ts';
import { loadConfig } from '../../config.ts';
import { handleSignals } from '../../shutdown.ts';

export async function tail(options: Pick<TailOptions, 'filter' | 'from'>, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const log = toolLogger(config.LOG_LEVEL, 'events tail');
  const stop = new AbortController();
  const tailing = withJetStream(config, 'events tail', (js) =>
    tailEvents(
      js,
      {
        stream: config.STREAM_NAME,
        filter: options.filter,
        from: options.from,
        write: (line) => process.stdout.write(`${line}\n`),
        warn: (text) => log.warn(text),
        // On stderr so stdout stays pure JSON lines; scripts (and the tests) wait for it.
        ready: () => process.stderr.write(`tailing ${config.STREAM_NAME} ${options.filter}\n`),
      },
      stop.signal,
    ),
  );
  // The first Ctrl-C ends the process (exit 0) after at most a moment's wait for the consumer
  // and the connection to close, even when nats.js still has a retry timer pending.
  handleSignals(log, 5_000, [{ name: 'events tail', run: () => (stop.abort(), Promise.race([tailing.catch(() => undefined), delay(2_000)])) }]);
  await tailing;
  return 0;
}
