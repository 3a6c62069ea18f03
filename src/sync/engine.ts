// The consistency engine: reconciles the workplan files of one repo with the hub and reports
// what it did and what it could not do (docs/workplans.md). One sync of a repo at a time (an
// advisory lock); each file in its own transaction, planned again inside it against the rows
// it locks; a dry run plans and reports, and writes nothing.
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { Db, Queryable, Session } from '../db.ts';
import { conflict, notFound, unavailable } from '../operations/errors.ts';
import type { Settings } from '../operations/operation.ts';
import { applySteps, hasWrites, isRefusal, writeSources, type Applied } from './apply.ts';
import { listWorkplanFiles, repoDirectory } from './files.ts';
import { planFile, planGone, type FilePlan, type PlanContext } from './plan.ts';
import { inputOfRead, type ReadFile } from './reading.ts';
import { MAX_MISSING, outcomeOf, reportCutter, summarize, type FileReport, type Missing, type SyncReport } from './report.ts';
import { readInThread } from './readers.ts';
import { readState, readWorkstreams, type HubWorkstream } from './state.ts';
import { Turns } from './turns.ts';

export interface SyncOptions {
  dryRun: boolean;
  prune: boolean;
  /** How long to wait for another sync of the same repo (or a turn) before answering conflict (or unavailable). */
  lockWaitMs?: number;
}

const LOCK_WAIT_MS = 10_000;
/** Syncs (and dry runs) that hold a database connection at once in this process. */
const turns = new Turns(2);
const LOCK_KEY = "hashtextextended('statehub.sync:' || $1::text, 0)";

interface Repo {
  id: number;
  slug: string;
  local_path: string | null;
}

/** Takes the repo's sync lock on this session, polling until the deadline; false if it could not. */
async function lockRepo(s: Session, repo: Repo, deadline: number): Promise<boolean> {
  for (;;) {
    const { rows } = await s.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS locked`, [repo.id]);
    if (rows[0]!.locked) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

/**
 * For each workplan id: the file that owns it. That is the one it came from while that file
 * declares it, or may (its id cannot be read: unreadable, or not read in time); else the first
 * by path.
 */
function ownersOf(files: ReadFile[], workstreams: Map<string, HubWorkstream>, repoId: number): Map<string, string> {
  const declaring = new Map<string, string[]>();
  const unknown = new Set<string>();
  for (const f of files) {
    if (f.id === null) unknown.add(f.path);
    else declaring.set(f.id, [...(declaring.get(f.id) ?? []), f.path]);
  }
  const owners = new Map<string, string>();
  for (const [id, paths] of declaring) {
    const source = workstreams.get(id.toLowerCase())?.source;
    const stored = source?.repo_id === repoId ? source.path : undefined;
    owners.set(id, stored !== undefined && (paths.includes(stored) || unknown.has(stored)) ? stored : paths[0]!);
  }
  return owners;
}

interface Result {
  /** Its lists whole: reportCutter() cuts them for the report. */
  file: Omit<FileReport, 'counts'>;
  /** The plan's items gone from their file, as they are after the run. */
  missing: Missing[];
}

/** What a plan did (or, with no `applied`, would do, as in a dry run). */
function resultOf(plan: FilePlan, applied: Applied | null): Result {
  const done = plan.steps.filter((s) => !applied || (!applied.refused.has(s) && !applied.skipped.has(s)));
  const refused = [...(applied?.refused ?? [])].map(([s, reason]) => ({ ...s.conflict, reason: `the database refuses it: ${reason}` }));
  const pruned = new Set(done.filter((s) => s.change.change === 'pruned').map((s) => s.item));
  const notPruned = new Map([...(applied?.refused ?? [])].filter(([s]) => s.change.change === 'pruned').map(([s, reason]) => [s.item, reason]));
  const lists = {
    changes: [...plan.changes, ...done.map((s) => s.change)],
    conflicts: [...plan.conflicts, ...refused],
    file_behind_hub: plan.behind,
    errors: plan.errors,
  };
  return {
    file: { path: plan.path, workplan_id: plan.workplanId, workstream_id: plan.workstream?.id ?? null, outcome: outcomeOf(lists, done.some((s) => s.kind === 'createWorkstream')), ...lists },
    missing: plan.missing.map((m) =>
      pruned.has(m.item) ? { ...m, status: 'cancelled', pruned: true }
      : notPruned.has(m.item) ? { ...m, prune_refused: `the database refuses it: ${notPruned.get(m.item)}` }
      : m,
    ),
  };
}

/**
 * Runs a file's plan in its own transaction: planned again (`replan`) on the rows it locks,
 * fast, then carefully after a refusal (apply.ts).
 */
async function applyFile(s: Session, replan: (q: Queryable) => Promise<FilePlan>, repoId: number): Promise<Result> {
  const attempt = (careful: boolean) =>
    s.tx(async (q) => {
      const plan = await replan(q);
      if (!hasWrites(plan)) return resultOf(plan, null);
      const applied = await applySteps(q, plan, careful);
      await writeSources(q, plan, repoId);
      return resultOf(plan, applied);
    });
  try {
    return await attempt(false);
  } catch (err) {
    if (!isRefusal(err)) throw err;
    return attempt(true);
  }
}

export async function syncRepo(db: Db, settings: Settings, slug: string, options: SyncOptions): Promise<SyncReport> {
  const { rows } = await db.query<Repo>('SELECT id, slug, local_path FROM statehub.repos WHERE slug = $1', [slug]);
  const repo = rows[0];
  if (!repo) throw notFound(`repo ${slug}`);
  const { dir, roots } = await repoDirectory(repo, settings.workplanRoots);
  // Read and parsed in a reader thread, within the budget: only the parsed forms come back.
  const readFiles = async () => {
    const listing = await listWorkplanFiles(dir, roots);
    return listing && readInThread(listing, roots, settings.readBudgetMs);
  };
  const deadline = Date.now() + (options.lockWaitMs ?? LOCK_WAIT_MS);
  const release = await turns.take(deadline, () => unavailable('the hub is running other syncs; try again in a few seconds'));
  try {
    if (options.dryRun) {
      // A dry run writes nothing, so it takes no lock: it reads the files, then the hub.
      return await reconcile(db, null, repo, await readFiles(), options);
    }
    // The files are read once the lock is held, so a sync that waited never applies an older
    // read over a newer one. On any failure the session's connection is destroyed, and the lock
    // goes with it.
    const report = await db.session(async (s) => {
      if (!(await lockRepo(s, repo, deadline))) return null;
      const done = await reconcile(s, s, repo, await readFiles(), options);
      await s.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`, [repo.id]);
      return done;
    });
    if (!report) throw conflict(`another sync of repo ${repo.slug} is running; try again when it has finished`);
    return report;
  } finally {
    release();
  }
}

/**
 * Plans every file against the hub (read in one snapshot on `reader`) and, unless this is a dry
 * run (`writer` null), runs each plan in its own transaction on `writer`. `files` is null when
 * the checkout has no workplans/ folder.
 */
async function reconcile(reader: Db | Session, writer: Session | null, repo: Repo, found: ReadFile[] | null, options: SyncOptions): Promise<SyncReport> {
  const files = found ?? [];
  const refs = files.flatMap((f) => (f.refs ? [f.refs] : []));
  const slugs = files.flatMap((f) => (f.id ? [f.id.toLowerCase()] : []));
  const goals = refs.flatMap((w) => (w.repoGoal === null ? [] : [w.repoGoal]));
  const state = await reader.tx(async (q) => {
    await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return readState(q, repo.id, slugs, [...new Set(refs.map((w) => w.topic))], goals);
  });
  const ctx: PlanContext = { repo, state, owners: ownersOf(files, state.workstreams, repo.id), prune: options.prune };
  // Inside a file's transaction: the same plan, against its workstream's rows, locked.
  const fresh = async (tx: Queryable, slugOf: string, plan: (c: PlanContext) => FilePlan) =>
    plan({ ...ctx, state: { ...state, ...(await readWorkstreams(tx, [slugOf], null, true)) } });
  const run = async (plan: FilePlan, replan: (c: PlanContext) => FilePlan): Promise<Result> =>
    writer === null || !hasWrites(plan) ? resultOf(plan, null) : applyFile(writer, (tx) => fresh(tx, plan.workstream!.slug, replan), repo.id);

  const cut = reportCutter();
  const reports: FileReport[] = [];
  const missing: Missing[] = [];
  let missingCount = 0;
  const note = (result: Result) => {
    missingCount += result.missing.length;
    missing.push(...result.missing.slice(0, MAX_MISSING - missing.length));
  };
  // Planning runs here, where the hub's rows are. One file's plan is small (MAX_TASKS), each
  // file becomes objects only for its turn, and the event loop gets a turn between files.
  for (const file of files) {
    await yieldToLoop();
    const input = inputOfRead(file);
    const result = await run(planFile(input, ctx), (c) => planFile(input, c));
    reports.push(cut(result.file));
    note(result);
  }
  // Workstreams whose file is gone, or no longer declares their id. Not decided while the
  // folder is missing (a checkout being cloned) or while any file's id cannot be read (it may be
  // theirs): pruning is final, so it waits until every file says what it is.
  if (found !== null && files.every((f) => f.id !== null)) {
    for (const ws of state.workstreams.values()) {
      if (ws.source?.repo_id !== repo.id || ctx.owners.has(ws.slug.toUpperCase())) continue;
      await yieldToLoop();
      note(await run(planGone(ws, options.prune), (c) => planGone(c.state.workstreams.get(ws.slug) ?? ws, options.prune)));
    }
  }
  return {
    repo: repo.slug,
    dry_run: writer === null,
    prune: options.prune,
    files: reports,
    missing_from_file: missing,
    missing_from_file_truncated: missingCount > MAX_MISSING,
    summary: summarize(reports),
  };
}
