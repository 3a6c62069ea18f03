// statehub migrate [up|down] [--count N]
import { parseArgs } from 'node:util';
import { loadConfig, requireDatabaseUrl } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { migrate } from '../../migrate.ts';

export async function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { count: { type: 'string' } } });
  const direction = positionals[0] ?? 'up';
  if (direction !== 'up' && direction !== 'down') {
    process.stderr.write('usage: statehub migrate [up|down] [--count N]\n');
    return 2;
  }
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) {
    process.stderr.write('statehub migrate: --count takes a positive whole number\n');
    return 2;
  }
  const config = loadConfig(env);
  const log = createLogger(config.LOG_LEVEL, { component: 'migrate' });
  const result = await migrate(requireDatabaseUrl(config), log, direction, count);
  if (result.migrations.length === 0 && !result.definitionsApplied) log.info('database is up to date');
  return 0;
}
