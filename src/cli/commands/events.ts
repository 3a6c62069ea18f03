// statehub events tail [subject filter] [--since-start | --new]
import { setTimeout as delay } from 'node:timers/promises';
import { parseToolArgs, toolLogger, UsageError, withJetStream, withUsage } from '../../pump/tools/common.ts';
import { tailEvents } from '../../pump/tools/tail.ts';
import { loadConfig } from '../../config.ts';
import { handleSignals } from '../../shutdown.ts';

const usage = `usage: statehub events tail [SUBJECT] [--since-start | --new]

Prints each message of the JetStream stream STREAM_NAME whose subject matches SUBJECT (default
'org.statehub.>') as one JSON line on stdout, as it arrives, until Ctrl-C (exit 0). Uses an
ephemeral ordered consumer: it acks nothing and leaves no consumer behind. Needs NATS_URL.

  --new           only messages that arrive from now on (default)
  --since-start   everything still in the stream first, then new messages
`;

export async function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return withUsage('events', usage, async () => {
    const { values, positionals } = parseToolArgs({
      args,
      allowPositionals: true,
      options: {
        'since-start': { type: 'boolean', default: false },
        new: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const [sub, filter = 'org.statehub.>', ...extra] = positionals;
    if (sub !== 'tail') throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'a subcommand is required');
    if (extra.length > 0) throw new UsageError(`one subject filter at most, got ${positionals.length - 1}`);
    if (values['since-start'] && values.new) throw new UsageError('--since-start and --new exclude each other');
    if (!/^[^\s]+$/.test(filter)) throw new UsageError(`"${filter}" is not a subject filter`);

    const config = loadConfig(env);
    const log = toolLogger(config.LOG_LEVEL, 'events tail');
    const stop = new AbortController();
    const tail = withJetStream(config, 'events tail', (js) =>
      tailEvents(
        js,
        {
          stream: config.STREAM_NAME,
          filter,
          from: values['since-start'] ? 'start' : 'new',
          write: (line) => process.stdout.write(`${line}\n`),
          warn: (text) => log.warn(text),
          // On stderr so stdout stays pure JSON lines; scripts (and the tests) wait for it.
          ready: () => process.stderr.write(`tailing ${config.STREAM_NAME} ${filter}\n`),
        },
        stop.signal,
      ),
    );
    // The first Ctrl-C ends the process (exit 0) after at most a moment's wait for the consumer
    // and the connection to close, even when nats.js still has a retry timer pending.
    handleSignals(log, 5_000, [{ name: 'events tail', run: () => (stop.abort(), Promise.race([tail.catch(() => undefined), delay(2_000)])) }]);
    await tail;
    return 0;
  });
}
