// statehub cleanup-stale-tasks [--dry-run]
// Runs the stale-task rule (statehub.cancel_stale_tasks, sql/240) and prints what it
// cancelled, or with --dry-run what it would cancel. The rule and its events live in SQL.
import { loadConfig, requireDatabaseUrl } from '../../config.ts';
import { createDb } from '../../db.ts';
import { createLogger } from '../../logger.ts';

/** Tasks cancelled per transaction. */
const STEP = 1000;

interface StaleTask {
  task_id: number;
  workstream_id: number;
  workstream_status: string;
  task_title: string;
  task_status_before: string;
}

export async function run({ dryRun }: { dryRun: boolean }, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const log = createLogger(config.LOG_LEVEL, { component: 'cleanup-stale-tasks' });
  const db = createDb({ connectionString: requireDatabaseUrl(config), max: 1, applicationName: 'statehub-cleanup' }, log);
  try {
    const verb = dryRun ? 'would cancel' : 'cancelled';
    let total = 0;
    // Each call is its own short transaction over at most STEP tasks; the last one finds none.
    for (;;) {
      const { rows } = await db.query<StaleTask>('SELECT * FROM statehub.cancel_stale_tasks($1, $2)', [dryRun, STEP]);
      for (const t of rows) {
        process.stdout.write(`${verb} task ${t.task_id} "${t.task_title}" (${t.task_status_before}): workstream ${t.workstream_id} is ${t.workstream_status}\n`);
      }
      total += rows.length;
      if (dryRun || rows.length === 0) break;
    }
    process.stdout.write(`${verb} ${total} stale task(s)${dryRun ? ' (dry run, nothing changed)' : ''}\n`);
    return 0;
  } finally {
    await db.close();
  }
}
