// `statehub <command> [options]`: every command, its options and its usage text, on commander,
// and the exit code: 0 done or help shown, 2 bad arguments or configuration (the usage or one
// line on stderr), 1 anything else (one line). A command's module in src/cli/commands/ is
// imported only when the command runs: `--help` and bad arguments touch nothing, and
// `statehub api` never loads the NATS client. Arguments are checked here, before any module
// loads; the modules get typed options and resolve to the exit code.
import { Argument, Command, CommanderError, Option } from 'commander';
import { RETENTION_RANGE, TOKEN_LIFETIME_RANGE } from '../durations.ts';
import { errorText } from '../error-text.ts';
import { SCOPES, type Scope } from '../tokens.ts';
import { durationIn, eventId, idList, positiveInt, repoSlug, since, skipReason, subject, subjectFilter, tokenName } from './arguments.ts';

type Env = NodeJS.ProcessEnv;
/** Makes an action that runs a command body and keeps the exit code it resolves to. */
type Runs = <A extends unknown[]>(body: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;

export async function main(argv: string[], env: Env): Promise<number> {
  let code = 0;
  const program = defineProgram(env, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    // commander has printed the help, or the message and the usage; it says 1 for the latter.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`statehub: ${errorText(err)}\n`);
    // Imported here: the schema (zod) is the slowest import, and usage and help never need it.
    const { ConfigError } = await import('../config.ts');
    return err instanceof ConfigError ? 2 : 1;
  }
}

function defineProgram(env: Env, exitWith: (code: number) => void): Command {
  const runs: Runs = (body) => async (...args) => exitWith(await body(...args));

  const program = new Command('statehub')
    .description('state-hub: the read model for cross-domain work state, and the pump that publishes its events to NATS JetStream.')
    .addHelpText('after', '\nConfiguration comes from environment variables (README, "Configuration").\nExit codes: 0 done, 1 failed, 2 bad arguments or configuration.');

  program
    .command('start')
    .summary('migrate, then run the API and the pump (embedded PostgreSQL and NATS when their URLs are unset)')
    .description(
      'For a development machine: migrates, then serves the API and runs the pump in this process. ' +
        'With DATABASE_URL unset it first boots an embedded PostgreSQL, and with NATS_URL unset a private ' +
        'nats-server when one is installed (data of both in STATEHUB_DATA_DIR). Ctrl-C stops everything.',
    )
    .action(
      runs(async (options) => {
        // start.ts turns every start-up failure into exit 1; a bad NATS file is configuration (2).
        // Without NATS_URL the files are not used (start runs a private nats-server, or none).
        const config = (await import('../config.ts')).loadConfig(env);
        if (config.NATS_URL) (await import('../pump/nats.ts')).readNatsFiles(config);
        return (await import('./commands/start.ts')).run(options, env);
      }),
    );

  program
    .command('api')
    .summary('serve the HTTP API and its MCP endpoint')
    .description('Serves the HTTP API, and the MCP endpoint POST /mcp (docs/mcp.md), on HOST:PORT against DATABASE_URL until SIGINT or SIGTERM.')
    .action(runs(async (options) => (await import('./commands/api.ts')).run(options, env)));

  program
    .command('mcp')
    .summary('serve MCP tools for AI agents over stdio')
    .description(
      'Serves the MCP tools (docs/mcp.md) on stdin and stdout for an MCP client that runs it as a command, ' +
        'until stdin closes or SIGINT/SIGTERM. Needs DATABASE_URL. stdout carries only the protocol; logs go to stderr.',
    )
    .action(runs(async (options) => (await import('./commands/mcp.ts')).run(options, env)));

  program
    .command('migrate')
    .summary('apply migrations and sql/ definitions; `migrate down` reverts the last migration')
    .description(
      'up (the default) applies the pending migrations in migrations/ and re-applies the definitions in ' +
        'sql/ when they changed; down reverts the last migration, or --count of them. Needs DATABASE_URL.',
    )
    .addArgument(new Argument('[direction]', 'up or down').choices(['up', 'down']).default('up'))
    .option('--count <N>', 'how many migrations (default: every pending one up, one down)', positiveInt)
    .action(runs(async (direction: 'up' | 'down', options) => (await import('./commands/migrate.ts')).run({ direction, ...options }, env)));

  program
    .command('pump')
    .summary('publish captured events from the outbox to NATS JetStream')
    .description(
      'Publishes captured events from the outbox to NATS JetStream until SIGTERM (docs/operations.md). ' +
        'Needs DATABASE_URL; without NATS_URL it stays up, publishes nothing, and events wait in the outbox.',
    )
    .action(runs(async (options) => (await import('./commands/pump.ts')).run(options, env)));

  program.addCommand(tokenCommand(runs, env));
  program.addCommand(outboxCommand(runs, env));
  program.addCommand(replayCommand(runs, env));
  program.addCommand(eventsCommand(runs, env));

  program
    .command('cleanup-stale-tasks')
    .summary('cancel open tasks of finished workstreams [--dry-run]')
    .description(
      'Runs the stale-task rule (statehub.cancel_stale_tasks, sql/240): cancels the open tasks of ' +
        'completed and cancelled workstreams, one task.stale event each, and prints what it cancelled. Needs DATABASE_URL.',
    )
    .option('--dry-run', 'print what it would cancel; change nothing')
    .action(runs(async (options: { dryRun?: true }) => (await import('./commands/cleanup-stale-tasks.ts')).run({ dryRun: options.dryRun === true }, env)));

  program
    .command('sync')
    .summary("reconcile repos' workplan files with the hub [--all] [--dry-run] [--prune] [--json]")
    .description(
      "Runs the consistency engine (docs/workplans.md) for the repos named, or with --all for every repo that has a local_path: " +
        "reads each repo's workplans/*.md, creates and updates its workstreams and tasks, and reports what it could not reconcile. " +
        'Needs DATABASE_URL and WORKPLAN_ROOTS. Exit 0 when everything is reconciled, 1 when a file is invalid or in conflict, a prune was refused or a repo could not be synced.',
    )
    .argument('[SLUG...]', 'the repos to sync', (text: string, previous: string[] = []) => [...previous, repoSlug(text)])
    .option('--all', 'every repo with a local_path')
    .option('--dry-run', 'report what it would do; change nothing')
    .option('--prune', 'cancel open workstreams and tasks that came from a file and are gone from it')
    .option('--json', 'print each report as one JSON line instead of a summary')
    .action(
      runs(async (slugs: string[] | undefined, options: { all?: true; dryRun?: true; prune?: true; json?: true }, cmd: Command) => {
        const named = slugs ?? [];
        if ((named.length > 0) === (options.all === true)) cmd.error('give the slugs of the repos to sync, or --all');
        const command = { slugs: named, all: options.all === true, dryRun: options.dryRun === true, prune: options.prune === true, json: options.json === true };
        return (await import('./commands/sync.ts')).run(command, env);
      }),
    );

  requireSubcommand(program, 'command');
  configure(program, 'statehub');
  return program;
}

function tokenCommand(runs: Runs, env: Env): Command {
  const token = new Command('token')
    .summary('token create | list | revoke: bearer tokens for the API')
    .description(
      'Bearer tokens for the HTTP API (README, "Authentication"). Need DATABASE_URL with a role that may ' +
        'write statehub.api_tokens: the migrating role, not the API\'s.',
    );
  const load = () => import('./commands/token.ts');

  token
    .command('create')
    .summary('make a token and print its secret, once')
    .description(
      'Makes a token and prints its secret on stdout, once: the hub stores only its SHA-256. ' +
        'read allows GET routes, /openapi.json and the read tools of POST /mcp; write allows every route and tool.',
    )
    .requiredOption('--name <NAME>', 'who uses it, e.g. ci-deploy (shown in request logs; unique)', tokenName)
    .addOption(new Option('--scope <SCOPE>', 'read or write').choices(SCOPES).makeOptionMandatory())
    .option('--expires <AGE>', `lifetime from ${TOKEN_LIFETIME_RANGE.min} to ${TOKEN_LIFETIME_RANGE.max}, e.g. 90d (default: never expires)`, durationIn(TOKEN_LIFETIME_RANGE))
    .action(runs(async (options: { name: string; scope: Scope; expires?: number }) => (await load()).create(options, env)));

  token
    .command('list')
    .summary('every token: name, scope, state, dates (never a secret)')
    .description('Lists every token with its scope, state (active, expired, revoked) and dates. No secret is stored, so none is printed.')
    .option('--json', 'print one JSON array instead of a table')
    .action(runs(async (options: { json?: true }) => (await load()).list({ json: options.json === true }, env)));

  token
    .command('revoke')
    .summary('revoke a token by name; running APIs refuse it within seconds')
    .description('Revokes the named token. Running APIs refuse it from their next lookup, at most a few seconds later (README, "Authentication"). Revoking twice changes nothing.')
    .addArgument(new Argument('<NAME>', 'the token to revoke').argParser(tokenName))
    .action(runs(async (name: string) => (await load()).revoke({ name }, env)));

  return requireSubcommand(token, 'subcommand');
}

function outboxCommand(runs: Runs, env: Env): Command {
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

function replayCommand(runs: Runs, env: Env): Command {
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

function eventsCommand(runs: Runs, env: Env): Command {
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

/**
 * Without this, commander answers a bare group (`statehub outbox`) with the usage alone; with it
 * the user also reads why. Call it once the group's subcommands exist, or they inherit
 * allowExcessArguments; helpCommand(true) because a group with an action loses `help [command]`.
 */
function requireSubcommand(group: Command, noun: string): Command {
  return group
    .helpCommand(true)
    .allowExcessArguments()
    .action((_options, cmd: Command) => {
      const [name] = cmd.args;
      cmd.error(name ? `unknown ${noun} "${name}"` : `a ${noun} is required`);
    });
}

/** The same habits on every command: errors as `statehub <command>: <why>` then the usage, no process.exit. */
function configure(cmd: Command, path: string): void {
  cmd
    .exitOverride()
    .showHelpAfterError()
    .configureHelp({ styleTitle: (title) => title.toLowerCase() })
    .configureOutput({ outputError: (text, write) => write(`${path}: ${text.replace(/^error: /, '')}`) });
  for (const sub of cmd.commands) configure(sub, `${path} ${sub.name()}`);
}
