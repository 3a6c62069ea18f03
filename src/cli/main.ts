// `statehub <command> [options]`: every command, its options and its usage text, on commander,
// and the exit code: 0 done or help shown, 2 bad arguments or configuration (the usage or one
// line on stderr), 1 anything else (one line). A command's module in src/cli/commands/ is
// imported only when the command runs: `--help` and bad arguments touch nothing, and
// `statehub api` never loads the NATS client. Arguments are checked here (the event-delivery
// commands in outbox-commands.ts), before any module loads; the modules get typed options and
// resolve to the exit code.
import { Argument, Command, CommanderError, Option } from 'commander';
import { TOKEN_LIFETIME_RANGE } from '../durations.ts';
import { errorText } from '../error-text.ts';
import { SCOPES, type Scope } from '../tokens.ts';
import { durationIn, positiveInt, repoSlug, tokenName } from './arguments.ts';
import { requireSubcommand, type Env, type Runs } from './command-kit.ts';
import { eventsCommand, outboxCommand, replayCommand } from './outbox-commands.ts';


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

/** The same habits on every command: errors as `statehub <command>: <why>` then the usage, no process.exit. */
function configure(cmd: Command, path: string): void {
  cmd
    .exitOverride()
    .showHelpAfterError()
    .configureHelp({ styleTitle: (title) => title.toLowerCase() })
    .configureOutput({ outputError: (text, write) => write(`${path}: ${text.replace(/^error: /, '')}`) });
  for (const sub of cmd.commands) configure(sub, `${path} ${sub.name()}`);
}
