// statehub sync [SLUG...] [--all] [--dry-run] [--prune] [--json]
// Runs the consistency engine (docs/workplans.md) for each repo through the operation the API
// runs, and prints a summary per repo, or each report as one JSON line. Exit: 0 reconciled,
// 1 a file invalid or in conflict, a prune refused or a repo not synced, 2 usage or configuration.
import { ConfigError, loadConfig, requireDatabaseUrl } from '../../config.ts';
import { createDb, type Db } from '../../db.ts';
import { createLogger } from '../../logger.ts';
import { toOperationError } from '../../operations/errors.ts';
import { settingsOf, type Settings } from '../../operations/operation.ts';
import { repos } from '../../operations/repos.ts';
import { workplans } from '../../operations/workplans.ts';
import { REPORT_LISTS, type SyncReport } from '../../sync/report.ts';

export interface SyncCommand {
  /** The repos named; empty with `all`. */
  slugs: string[];
  all: boolean;
  dryRun: boolean;
  prune: boolean;
  json: boolean;
}

/** Every repo with a local_path, in slug order. */
async function reposWithCheckouts(db: Db, settings: Settings): Promise<string[]> {
  const slugs: string[] = [];
  let cursor: string | undefined;
  do {
    const page = (await repos.list.run(repos.list.input.parse({ limit: 500, cursor }), db, settings)) as {
      items: Array<{ slug: string; local_path: string | null }>;
      next_cursor: string | null;
    };
    slugs.push(...page.items.filter((r) => r.local_path !== null).map((r) => r.slug));
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
  return slugs.sort();
}

const shown = (v: unknown) => (v === null ? 'none' : String(v));

/** The human summary: one line per repo, then one per change and per problem. */
export function render(r: SyncReport): string {
  const s = r.summary;
  const lines = [
    `repo ${r.repo}: ${s.files} file(s): ${s.created} created, ${s.updated} updated, ${s.unchanged} unchanged, ${s.invalid} invalid, ${s.conflicts} in conflict` +
      (r.dry_run ? ' (dry run, nothing changed)' : ''),
  ];
  for (const f of r.files) {
    for (const e of f.errors) lines.push(`  ${f.path}${e.line === null ? '' : `:${e.line}`}: ${e.message}`);
    for (const c of f.changes) {
      lines.push(`  ${f.path}: ${c.change} ${c.item}${c.field ? ` ${c.field}: ${shown(c.from)} -> ${shown(c.to)}` : ''}`);
    }
    for (const c of f.conflicts) {
      const base = c.base === undefined ? '' : `, base ${shown(c.base)}`;
      lines.push(`  ${f.path}: conflict ${c.item}${c.field ? ` ${c.field}` : ''}: file ${shown(c.file)}, hub ${shown(c.hub)}${base}: ${c.reason}`);
    }
    for (const b of f.file_behind_hub) lines.push(`  ${f.path}: file behind hub ${b.item} ${b.field}: file ${shown(b.file)}, hub ${shown(b.hub)}`);
    const hidden = REPORT_LISTS.flatMap((list) => {
      const more = f.counts[list] - f[list].length;
      return more > 0 ? [`${more} ${list === 'file_behind_hub' ? 'items behind the hub' : list}`] : [];
    });
    if (hidden.length) lines.push(`  ${f.path}: and ${hidden.join(', ')} not shown`);
  }
  for (const m of r.missing_from_file) {
    lines.push(`  ${m.path}: gone from the file ${m.item} (${m.status}${m.pruned ? ', pruned' : ''}${m.prune_refused ? `; not pruned: ${m.prune_refused}` : ''})`);
  }
  if (r.missing_from_file_truncated) lines.push(`  ... and more items gone from their files (see --json)`);
  return `${lines.join('\n')}\n`;
}

export async function run(command: SyncCommand, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  if (config.WORKPLAN_ROOTS.length === 0) {
    throw new ConfigError('invalid configuration: WORKPLAN_ROOTS is not set: give the directories sync may read workplan files from, colon-separated');
  }
  const settings = settingsOf(config);
  // stdout carries the reports only (--json is read by programs).
  const log = createLogger(config.LOG_LEVEL, { component: 'sync' }, { allToStderr: true });
  const db = createDb({ connectionString: requireDatabaseUrl(config), max: 2, applicationName: 'statehub-sync', statementTimeoutMs: config.API_STATEMENT_TIMEOUT }, log);
  try {
    const slugs = command.all ? await reposWithCheckouts(db, settings) : command.slugs;
    // A slug that names no repo is a usage error, found before any repo is synced.
    for (const slug of command.all ? [] : slugs) {
      await repos.get.run({ slug }, db, settings).catch((err: unknown) => {
        throw toOperationError(err)?.kind === 'not_found' ? new ConfigError(`no repo has the slug ${slug} (statehub sync takes repo slugs)`) : err;
      });
    }
    let code = 0;
    for (const slug of slugs) {
      try {
        const report = (await workplans.sync.run(workplans.sync.input.parse({ slug, dry_run: command.dryRun, prune: command.prune }), db, settings)) as SyncReport;
        process.stdout.write(command.json ? `${JSON.stringify(report)}\n` : render(report));
        if (report.summary.invalid > 0 || report.summary.conflicts > 0 || report.missing_from_file.some((m) => m.prune_refused)) code = 1;
      } catch (err) {
        const known = toOperationError(err);
        // Without the database no other repo would fare better.
        if (known?.kind === 'unavailable') throw err;
        if (!known) log.error('sync failed', { repo: slug, error: (err as Error).message, stack: (err as Error).stack });
        const message = known?.message ?? `an unexpected error occurred: ${(err as Error).message}`;
        process.stdout.write(command.json ? `${JSON.stringify({ repo: slug, error: message })}\n` : `repo ${slug}: not synced: ${message}\n`);
        code = 1;
      }
    }
    if (slugs.length === 0 && !command.json) process.stdout.write('no repo has a local_path: nothing to sync\n');
    return code;
  } finally {
    await db.close();
  }
}
