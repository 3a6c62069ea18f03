// `statehub <command> [args]`: each command lives in src/cli/commands/<name>.ts and exports
// run(args, env) resolving to the exit code. Loaded lazily so `statehub api` never loads NATS.
import { ConfigError } from '../config.ts';

type Command = { run(args: string[], env: NodeJS.ProcessEnv): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  start: { summary: 'migrate, then run the API and the pump (embedded PostgreSQL when DATABASE_URL is unset)', load: () => import('./commands/start.ts') },
  api: { summary: 'serve the HTTP API', load: () => import('./commands/api.ts') },
  migrate: { summary: 'apply migrations and sql/ definitions; `migrate down` reverts the last migration', load: () => import('./commands/migrate.ts') },
  pump: { summary: 'publish captured events from the outbox to NATS JetStream', load: () => import('./commands/pump.ts') },
  outbox: { summary: 'outbox status | requeue | prune --older-than 30d', load: () => import('./commands/outbox.ts') },
  replay: { summary: 're-publish chosen outbox rows (--from-id, --since, --subject)', load: () => import('./commands/replay.ts') },
  events: { summary: "events tail ['org.statehub.>']: print envelopes from the stream as they arrive", load: () => import('./commands/events.ts') },
  'cleanup-stale-tasks': { summary: 'cancel open tasks of finished workstreams [--dry-run]', load: () => import('./commands/cleanup-stale-tasks.ts') },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: statehub <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`statehub: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load()).run(args, process.env);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`statehub: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`statehub: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
