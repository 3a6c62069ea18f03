// statehub migrate [up|down] [--count N]
import { loadConfig, requireDatabaseUrl } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { migrate } from '../../migrate.ts';

export interface MigrateOptions {
  direction: 'up' | 'down';
  /** Migrations to apply or revert; unset: every pending one up, one down. */
  count?: number;
}

export async function run(options: MigrateOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const log = createLogger(config.LOG_LEVEL, { component: 'migrate' });
  const result = await migrate(requireDatabaseUrl(config), log, options.direction, options.count);
  if (result.migrations.length === 0 && !result.definitionsApplied) log.info('database is up to date');
  return 0;
}
