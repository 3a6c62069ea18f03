// statehub outbox status [--json] | requeue (--id N ... | --all) | prune [--older-than 30d]
// src/cli/main.ts parses and checks the arguments; these run the checked subcommands.
import { withDatabase } from '../../pump/tools/common.ts';
import { prunePublished } from '../../pump/tools/prune.ts';
import { requeueFailed } from '../../pump/tools/requeue.ts';
import { formatStatus, outboxStatus } from '../../pump/tools/status.ts';

export async function status({ json }: { json: boolean }, env: NodeJS.ProcessEnv): Promise<number> {
  const s = await withDatabase(env, 'outbox status', ({ db }) => outboxStatus(db));
  process.stdout.write(json ? `${JSON.stringify(s)}\n` : formatStatus(s));
  return 0;
}

export async function requeue(which: { ids: number[] } | { all: true }, env: NodeJS.ProcessEnv): Promise<number> {
  const result = await withDatabase(env, 'outbox requeue', ({ db }) => requeueFailed(db, which));
  process.stdout.write(`requeued ${result.requeued.length} failed row(s)${result.requeued.length ? `: ${result.requeued.join(', ')}` : ''}\n`);
  if (result.skipped.length > 0) {
    process.stdout.write(`not failed (pending, published or absent), left alone: ${result.skipped.join(', ')}\n`);
  }
  return 0;
}

/** olderThan in milliseconds; unset: OUTBOX_RETENTION. */
export async function prune({ olderThan }: { olderThan?: number }, env: NodeJS.ProcessEnv): Promise<number> {
  const deleted = await withDatabase(env, 'outbox prune', ({ db, config }) => prunePublished(db, olderThan ?? config.OUTBOX_RETENTION));
  process.stdout.write(`pruned ${deleted} published row(s)\n`);
  return 0;
}
