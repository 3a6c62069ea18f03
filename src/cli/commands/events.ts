// statehub events tail [SUBJECT] [--since-start | --new]
// src/cli/main.ts parses and checks the arguments.
import { toolLogger, withJetStream } from '../../pump/tools/common.ts';
import { tailEvents, type TailOptions } from '../../pump/tools/tail.ts';
import { loadConfig } from '../../config.ts';

export async function tail(options: Pick<TailOptions, 'filter' | 'from'>, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const log = toolLogger(config.LOG_LEVEL, 'events tail');
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await withJetStream(config, 'events tail', (js) =>
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
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return 0;
}
