// statehub outbox status [--event UUID] [--json] | requeue (ID... | --all) | skip ID... --reason TEXT | prune [--older-than 30d]
// src/cli/main.ts parses and checks the arguments; these run the checked subcommands.
import { withDatabase } from '../tools/common.ts';
import { requeueFailed, skipFailed, type ParkedChange } from '../tools/parked.ts';
import { pruneDelivered } from '../tools/prune.ts';
import { eventStatus, formatEventStatus, formatStatus, outboxStatus } from '../tools/status.ts';

export async function status({ json, event }: { json: boolean; event?: string }, env: NodeJS.ProcessEnv): Promise<number> {
  if (event !== undefined) {
    const s = await withDatabase(env, 'outbox status', ({ db }) => eventStatus(db, event));
    if (!s) {
      process.stderr.write(`statehub outbox status: no event ${event} in the outbox (never captured, or pruned)\n`);
      return 1;
    }
    process.stdout.write(json ? `${JSON.stringify(s)}\n` : formatEventStatus(s));
    return 0;
  }
  const s = await withDatabase(env, 'outbox status', ({ db, config }) => outboxStatus(db, config.PUMP_WAIT_FOR_STANDBYS));
  process.stdout.write(json ? `${JSON.stringify(s)}\n` : formatStatus(s));
  return 0;
}

function report(verb: string, result: ParkedChange): void {
  process.stdout.write(`${verb} ${result.changed.length} failed event(s)${result.changed.length ? `: ${result.changed.join(', ')}` : ''}\n`);
  if (result.ignored.length > 0) {
    process.stdout.write(`not failed (waiting, published, skipped, never parked or absent), left alone: ${result.ignored.join(', ')}\n`);
  }
}

export async function requeue(ids: number[] | 'all', env: NodeJS.ProcessEnv): Promise<number> {
  report('requeued', await withDatabase(env, 'outbox requeue', ({ db }) => requeueFailed(db, ids)));
  return 0;
}

export async function skip({ ids, reason }: { ids: number[]; reason: string }, env: NodeJS.ProcessEnv): Promise<number> {
  report('skipped', await withDatabase(env, 'outbox skip', ({ db }) => skipFailed(db, ids, reason)));
  return 0;
}

/** olderThan in milliseconds; unset: OUTBOX_RETENTION. */
export async function prune({ olderThan }: { olderThan?: number }, env: NodeJS.ProcessEnv): Promise<number> {
  const r = await withDatabase(env, 'outbox prune', ({ db, config }) => pruneDelivered(db, olderThan ?? config.OUTBOX_RETENTION));
  process.stdout.write(`pruned ${r.events} delivered event(s) and ${r.batches} batch row(s)\n`);
  return 0;
}
