// statehub replay --from-id N | --since <time> | --subject S [--dry-run] [--new-ids]
// src/cli/main.ts parses and checks the arguments (at least one filter).
import { ConfigError } from '../../config.ts';
import { readNatsFiles } from '../../pump/nats.ts';
import { withJetStream } from '../../pump/nats.ts';
import { countUndelivered, planReplay, replay, type ReplaySelection } from '../../pump/replay.ts';
import { withDatabase } from '../tools/common.ts';

export interface ReplayCommandOptions {
  selection: ReplaySelection;
  dryRun: boolean;
  newIds: boolean;
}

export async function run({ selection, dryRun, newIds }: ReplayCommandOptions, env: NodeJS.ProcessEnv): Promise<number> {
  return withDatabase(env, 'replay', async ({ db, config }) => {
    if (!dryRun && !config.NATS_URL) throw new ConfigError('invalid configuration: replay needs NATS_URL');
    // Before the first query, so a bad credentials or TLS file stops replay before any work.
    const natsFiles = dryRun ? undefined : readNatsFiles(config);
    const undelivered = await countUndelivered(db, selection);
    if (undelivered > 0) {
      process.stdout.write(`${undelivered} matching row(s) are not published (pending, parked or skipped): left to the pump and to \`outbox requeue\`\n`);
    }
    if (dryRun) {
      const plan = await planReplay(db, selection);
      const range = plan.matched ? ` (ids ${plan.firstId}..${plan.lastId})` : '';
      process.stdout.write(`dry run: would re-publish ${plan.matched} row(s)${range} to stream ${config.STREAM_NAME}\n`);
      return 0;
    }
    const result = await withJetStream(config, 'replay', (js) =>
      replay(db, js, selection, {
        stream: config.STREAM_NAME,
        publisher: config.EVENT_PUBLISHER,
        batchSize: Math.min(config.PUMP_BATCH_SIZE, config.PUMP_MAX_IN_FLIGHT),
        newIds,
      }),
      natsFiles,
    );
    for (const bad of result.invalid) process.stderr.write(`row ${bad.id} not published: ${bad.error}\n`);
    process.stdout.write(
      `${result.matched} row(s) matched: ${result.published} published, ` +
        `${result.duplicates} dropped as duplicates by JetStream's window` +
        (result.invalid.length ? `, ${result.invalid.length} invalid` : '') +
        '\n',
    );
    if (result.duplicates > 0 && !newIds) {
      process.stdout.write('to store those anyway, run again with --new-ids (the envelope id stays the same)\n');
    }
    return result.invalid.length ? 1 : 0;
  });
}
