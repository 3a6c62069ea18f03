// statehub replay --from-id N | --since <time> | --subject S [--dry-run] [--new-ids]
import { ConfigError } from '../../config.ts';
import { idArg, parseToolArgs, sinceArg, UsageError, withDatabase, withJetStream, withUsage } from '../../pump/tools/common.ts';
import { countUndelivered, planReplay, replay, subjectPattern, type ReplaySelection } from '../../pump/tools/replay.ts';

const usage = `usage: statehub replay (--from-id N | --since TIME | --subject S)... [--dry-run] [--new-ids]

Re-publishes already published outbox rows to the JetStream stream STREAM_NAME (needs NATS_URL).
Filters combine (AND); at least one is required. Pending and failed rows are left to the pump
(see \`statehub outbox requeue\`). published_at and stream_seq keep recording the original publish.

  --from-id N     rows with id >= N
  --since TIME    rows that occurred at or after TIME: ISO (2025-01-31T09:00:00Z) or a duration back from now (2h)
  --subject S     one subject, or a pattern with * and a final > (org.statehub.task.*)
  --dry-run       count what would be published; no NATS connection
  --new-ids       publish even events JetStream has seen recently (see below)

Each event is published with its event id as Nats-Msg-Id. JetStream silently drops a message whose
Nats-Msg-Id it stored inside the stream's duplicate window (2 minutes by default); replay counts
those as "dropped as duplicates". With --new-ids the Nats-Msg-Id becomes <event id>:replay:<time of
this run>, so JetStream stores them again. The envelope's "id" stays the event id: consumers that
dedup on it still recognise the copy, and those that do not will process the event twice.
`;

export async function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return withUsage('replay', usage, async () => {
    const { values } = parseToolArgs({
      args,
      options: {
        'from-id': { type: 'string' },
        since: { type: 'string' },
        subject: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        'new-ids': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const sel: ReplaySelection = {};
    if (values['from-id'] !== undefined) sel.fromId = idArg('--from-id', values['from-id']);
    if (values.since !== undefined) sel.since = sinceArg(values.since);
    if (values.subject !== undefined) {
      subjectPattern(values.subject); // validates before any connection is made
      sel.subject = values.subject;
    }
    if (Object.keys(sel).length === 0) throw new UsageError('choose the rows with --from-id, --since or --subject');

    return withDatabase(env, 'replay', async ({ db, config }) => {
      if (!values['dry-run'] && !config.NATS_URL) throw new ConfigError('invalid configuration: replay needs NATS_URL');
      const undelivered = await countUndelivered(db, sel);
      if (undelivered > 0) {
        process.stdout.write(`${undelivered} matching row(s) are pending or failed: left to the pump and \`outbox requeue\`\n`);
      }
      if (values['dry-run']) {
        const plan = await planReplay(db, sel);
        const range = plan.matched ? ` (ids ${plan.firstId}..${plan.lastId})` : '';
        process.stdout.write(`dry run: would re-publish ${plan.matched} row(s)${range} to stream ${config.STREAM_NAME}\n`);
        return 0;
      }
      const result = await withJetStream(config, 'replay', (js) =>
        replay(db, js, sel, {
          stream: config.STREAM_NAME,
          publisher: config.EVENT_PUBLISHER,
          batchSize: Math.min(config.PUMP_BATCH_SIZE, config.PUMP_MAX_IN_FLIGHT),
          newIds: values['new-ids'],
        }),
      );
      for (const bad of result.invalid) process.stderr.write(`row ${bad.id} not published: ${bad.error}\n`);
      process.stdout.write(
        `${result.matched} row(s) matched: ${result.published} published, ` +
          `${result.duplicates} dropped as duplicates by JetStream's window` +
          (result.invalid.length ? `, ${result.invalid.length} invalid` : '') +
          '\n',
      );
      if (result.duplicates > 0 && !values['new-ids']) {
        process.stdout.write('to store those anyway, run again with --new-ids (the envelope id stays the same)\n');
      }
      return result.invalid.length ? 1 : 0;
    });
  });
}
