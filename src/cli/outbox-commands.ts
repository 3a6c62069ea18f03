// The commands that operate event delivery: `statehub outbox …`, `statehub replay`,
// `statehub events tail`. Arguments are checked here; the work is in src/cli/commands/.
import { Argument, Command, Option } from 'commander';
import { RETENTION_RANGE } from '../durations.ts';
import { durationIn, eventId, idList, positiveInt, since, skipReason, subject, subjectFilter } from './arguments.ts';
import { requireSubcommand, type Env, type Runs } from './command-kit.ts';

export function outboxCommand(runs: Runs, env: Env): Command {
  const outbox = new Command('outbox')
    .summary('outbox status | requeue | skip | prune: backlog, failed events, retention')
    .description('Operating tools for statehub.outbox and its delivery bookkeeping. Need DATABASE_URL (the pump\'s database role is enough).');
  const load = () => import('./commands/outbox.ts');

  outbox
    .command('status')
    .summary('backlog and its oldest event, failed events and the keys they block, the last batch; or one event')
    .description(
      'Without --event: events the pump has not passed yet (and the age and id of the oldest), failed events ' +
        'and the ordering keys they block, and the last batch the pump recorded. With --event: whether that ' +
        'event is pending, published (stream and sequence), failed, waiting or skipped; exit 1 when the outbox does not have it.',
    )
    .option('--event <UUID>', 'one event, by its envelope id', eventId)
    .option('--json', 'print one JSON object instead of text')
    .action(runs(async (options: { json?: true; event?: string }) => (await load()).status({ json: options.json === true, event: options.event }, env)));

  outbox
    .command('requeue')
    .summary('publish failed events again, each before the events of its key waiting behind it')
    .description(
      'Gives failed events back to the pump: it publishes each one, then the events of its ordering key that wait ' +
        'behind it, in order. Asking for IDs or --all keeps a bare `requeue` from retrying everything by accident.',
    )
    .addArgument(new Argument('[ID...]', 'outbox ids of failed events').argParser(idList))
    .option('--all', 'every failed event')
    .action(
      runs(async (ids: number[] | undefined, options: { all?: true }, cmd: Command) => {
        if ((ids ?? []).length > 0 === (options.all === true)) cmd.error('give either failed event ids or --all');
        return (await load()).requeue(options.all ? 'all' : ids!, env);
      }),
    );

  outbox
    .command('skip')
    .summary('give up on failed events (with a reason); the events waiting behind them are published')
    .description(
      'Gives up on failed events for good: they are never published, the reason is kept, and the events of their ' +
        'ordering key that wait behind them are published, in order. Consumers will not see the skipped events.',
    )
    .addArgument(new Argument('<ID...>', 'outbox ids of failed events').argParser(idList))
    .requiredOption('--reason <TEXT>', 'why (kept with the event, 1 to 2000 characters)', skipReason)
    .action(runs(async (ids: number[], options: { reason: string }) => (await load()).skip({ ids, reason: options.reason }, env)));

  outbox
    .command('prune')
    .summary('deletes delivered events older than the age (default OUTBOX_RETENTION)')
    .description(
      'Deletes delivered events that occurred longer ago than the age (default OUTBOX_RETENTION), and batch rows ' +
        'of that age, in short steps. Events the pump has not passed, failed and waiting ones, and the newest batch row are never deleted.',
    )
    .option('--older-than <AGE>', `a duration from ${RETENTION_RANGE.min} to ${RETENTION_RANGE.max}, e.g. 30d`, durationIn(RETENTION_RANGE))
    .action(runs(async (options) => (await load()).prune(options, env)));

  return requireSubcommand(outbox, 'subcommand');
}

export function replayCommand(runs: Runs, env: Env): Command {
  return new Command('replay')
    .summary('re-publish chosen outbox rows (--from-id, --since, --subject)')
    .usage('(--from-id N | --since TIME | --subject S)... [--dry-run] [--new-ids]')
    .description(
      'Re-publishes already published outbox rows to the JetStream stream STREAM_NAME (needs NATS_URL). ' +
        'Filters combine (AND); at least one is required. Pending and failed rows are left to the pump ' +
        '(see `statehub outbox requeue`). The delivery bookkeeping keeps recording the original publish.',
    )
    .option('--from-id <N>', 'rows with id >= N', positiveInt)
    .option('--since <TIME>', 'rows that occurred at or after TIME: ISO (2025-01-31T09:00:00Z) or a duration back from now (2h)', (t) => since(t))
    .option('--subject <S>', 'one subject, or a pattern with * and a final > (org.statehub.task.*)', subject)
    .option('--dry-run', 'count what would be published; no NATS connection')
    .option('--new-ids', 'publish even events JetStream has seen recently (see below)')
    .addHelpText(
      'after',
      '\nEach event is published with its event id as Nats-Msg-Id. JetStream silently drops a message whose\n' +
        'Nats-Msg-Id it stored inside the stream\'s duplicate window (2 minutes by default); replay counts\n' +
        'those as "dropped as duplicates". With --new-ids the Nats-Msg-Id becomes <event id>:replay:<time of\n' +
        'this run>, so JetStream stores them again. The envelope\'s "id" stays the event id: consumers that\n' +
        'dedup on it still recognise the copy, and those that do not will process the event twice.',
    )
    .action(
      runs(async (options: { fromId?: number; since?: Date; subject?: string; dryRun?: true; newIds?: true }, cmd: Command) => {
        const { dryRun, newIds, ...selection } = options;
        if (Object.keys(selection).length === 0) cmd.error('choose the rows with --from-id, --since or --subject');
        return (await import('./commands/replay.ts')).run({ selection, dryRun: dryRun === true, newIds: newIds === true }, env);
      }),
    );
}

export function eventsCommand(runs: Runs, env: Env): Command {
  const events = new Command('events')
    .summary("events tail ['org.statehub.>']: print envelopes from the stream as they arrive")
    .description('Reads the JetStream stream STREAM_NAME without changing anything on the server. Needs NATS_URL.');
  events
    .command('tail')
    .summary('print envelopes from the stream as they arrive')
    .description(
      "Prints each message of the JetStream stream STREAM_NAME whose subject matches SUBJECT as one JSON " +
        'line on stdout, as it arrives, until Ctrl-C (exit 0). Uses an ephemeral ordered consumer: it acks ' +
        'nothing and leaves no consumer behind. Needs NATS_URL.',
    )
    .addArgument(new Argument('[SUBJECT]', 'subject filter').default('org.statehub.>').argParser(subjectFilter))
    .addOption(new Option('--new', 'only messages that arrive from now on (default)').conflicts('sinceStart'))
    .addOption(new Option('--since-start', 'everything still in the stream first, then new messages'))
    .action(
      runs(async (filter: string, options: { sinceStart?: boolean }) =>
        (await import('./commands/events.ts')).tail({ filter, from: options.sinceStart ? 'start' : 'new' }, env),
      ),
    );
  return requireSubcommand(events, 'subcommand');
}
