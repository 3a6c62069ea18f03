// statehub outbox status [--json] | requeue (--id N ... | --all) | prune [--older-than 30d]
import { durationArg, idArg, parseToolArgs, UsageError, withDatabase, withUsage } from '../../pump/tools/common.ts';
import { prunePublished } from '../../pump/tools/prune.ts';
import { requeueFailed } from '../../pump/tools/requeue.ts';
import { formatStatus, outboxStatus } from '../../pump/tools/status.ts';

const usage = `usage:
  statehub outbox status [--json]
      pending rows (backlog) and the age of the oldest, failed rows, the last published row
  statehub outbox requeue --id N [--id N ...] | --all
      clears failed_at and last_error of failed rows so the pump retries them
  statehub outbox prune [--older-than 30d]
      deletes rows published longer ago than the age (default OUTBOX_RETENTION);
      pending and failed rows are never deleted
`;

export async function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(usage);
    return 0;
  }
  return withUsage(`outbox ${sub ?? ''}`.trim(), usage, async () => {
    switch (sub) {
      case 'status':
        return status(rest, env);
      case 'requeue':
        return requeue(rest, env);
      case 'prune':
        return prune(rest, env);
      default:
        throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'a subcommand is required');
    }
  });
}

async function status(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseToolArgs({ args, options: { json: { type: 'boolean', default: false } } });
  const s = await withDatabase(env, 'outbox status', ({ db }) => outboxStatus(db));
  process.stdout.write(values.json ? `${JSON.stringify(s)}\n` : formatStatus(s));
  return 0;
}

async function requeue(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseToolArgs({
    args,
    options: { id: { type: 'string', multiple: true }, all: { type: 'boolean', default: false } },
  });
  const ids = (values.id ?? []).map((v) => idArg('--id', v));
  // Requiring one of the two keeps a bare `requeue` from retrying everything by accident.
  if (ids.length > 0 === values.all) throw new UsageError('give either --id N (repeatable) or --all');
  const result = await withDatabase(env, 'outbox requeue', ({ db }) => requeueFailed(db, values.all ? { all: true } : { ids }));
  process.stdout.write(`requeued ${result.requeued.length} failed row(s)${result.requeued.length ? `: ${result.requeued.join(', ')}` : ''}\n`);
  if (result.skipped.length > 0) {
    process.stdout.write(`not failed (pending, published or absent), left alone: ${result.skipped.join(', ')}\n`);
  }
  return 0;
}

async function prune(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseToolArgs({ args, options: { 'older-than': { type: 'string' } } });
  const olderThan = values['older-than'] === undefined ? undefined : durationArg('--older-than', values['older-than']);
  const deleted = await withDatabase(env, 'outbox prune', ({ db, config }) => prunePublished(db, olderThan ?? config.OUTBOX_RETENTION));
  process.stdout.write(`pruned ${deleted} published row(s)\n`);
  return 0;
}
