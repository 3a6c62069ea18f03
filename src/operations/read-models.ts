// Read models: what to do next across the hub, and one domain at a glance.
import { z } from 'zod';
import { decision } from './decisions.ts';
import { domainGoal } from './domain-goals.ts';
import { domain } from './domains.ts';
import { notFound } from './errors.ts';
import { idOrSlug, MAX_PAGE, page, pageInput, slug, timestamp } from './fields.ts';
import { operation } from './operation.ts';
import { repo } from './repos.ts';
import { badCursor, getOne } from './sql.ts';
import { decisionStatus, taskStatus, workstreamStatus } from './statuses.ts';

// Where a workstream belongs: its repo's domain, else its topic's.
const workstreamContext = `
  LEFT JOIN statehub.repos r ON r.id = w.repo_id
  LEFT JOIN statehub.topics tp ON tp.id = w.topic_id
  LEFT JOIN statehub.domains d ON d.id = coalesce(r.domain_id, tp.domain_id)`;

// Urgency: blocked tasks first (someone must unblock them), then open decisions (work waits on
// them), then tasks in progress, then tasks to do; oldest first within each rank. A page is
// keyset-paged on (rank, waiting_since, id); rank decides the kind, so the key is unique.
//
// Why one branch per rank: each branch walks its own partial index (migrations/0005) in
// (created_at, id) order from the cursor and stops after $4 rows, so a page reads and sorts at
// most 4 x (limit + 1) rows however deep its cursor is; a single ORDER BY over the union would
// sort every open task and decision on every page.
//
// $1, $2, $3 are the cursor's rank, waiting_since in whole microseconds since the epoch, and id
// (0, 0, 0 for the first page). A branch of a rank before the cursor's is skipped whole, the
// cursor's own rank resumes after the key, later ranks start at their beginning. The
// microseconds go back to a timestamptz with float8 * interval, exact for any integer below
// 2^53 (the cursor is checked to be one), so the comparison is against the stored value.
//
// With a domain, $5 is its id or slug and each branch keeps only rows of that domain: a task's
// domain is its workstream's, a decision's its workstream's, else its own topic's. The branches
// still walk the same indexes, checking each row's domain, so the bound above becomes: rows
// read grow with the open items of other domains that come before the page's (a domain that
// holds most open work reads about a page; a small one in a large hub reads further), since
// tasks and decisions carry no domain column an index could start from.
//
// The workstream/repo/domain context is joined once, to the page, not inside the branches.
const nextStepsAfter = (rank: number, alias: string) =>
  `($1 < ${rank} OR ($1 = ${rank} AND (${alias}.created_at, ${alias}.id) > ('epoch'::timestamptz + $2::float8 * interval '1 microsecond', $3)))`;

const domainOfWorkstream = (w: string) =>
  `coalesce((SELECT domain_id FROM statehub.repos WHERE id = ${w}.repo_id), (SELECT domain_id FROM statehub.topics WHERE id = ${w}.topic_id))`;

type DomainKey = 'id' | 'slug' | undefined;

const domainIs = (key: DomainKey) => (key === 'id' ? '$5::bigint' : '(SELECT id FROM statehub.domains WHERE slug = $5)');

// Only tasks of active workstreams are next steps.
const nextTasks = (rank: number, status: string, inDomain: DomainKey) => `
    (SELECT ${rank} AS rank, t.id, t.title, t.status::text AS status, t.created_at, t.workstream_id, NULL::bigint AS topic_id
       FROM statehub.tasks t
       JOIN statehub.workstreams w ON w.id = t.workstream_id AND w.status = 'active'
      WHERE t.status = '${status}' AND ${nextStepsAfter(rank, 't')}${inDomain ? ` AND ${domainOfWorkstream('w')} = ${domainIs(inDomain)}` : ''}
      ORDER BY t.created_at, t.id LIMIT $4)`;

const nextDecisions = (inDomain: DomainKey) => `
      (SELECT 2, dc.id, dc.title, dc.status::text, dc.created_at, dc.workstream_id, dc.topic_id
         FROM statehub.decisions dc${inDomain ? `
         LEFT JOIN statehub.workstreams w ON w.id = dc.workstream_id` : ''}
        WHERE dc.status = 'open' AND ${nextStepsAfter(2, 'dc')}${inDomain
          ? ` AND coalesce(${domainOfWorkstream('w')}, (SELECT domain_id FROM statehub.topics WHERE id = dc.topic_id)) = ${domainIs(inDomain)}`
          : ''}
        ORDER BY dc.created_at, dc.id LIMIT $4)`;

const nextStepsSql = (inDomain: DomainKey) => `
  WITH page AS (
    SELECT * FROM (${nextTasks(1, 'blocked', inDomain)}
      UNION ALL${nextDecisions(inDomain)}
      UNION ALL${nextTasks(3, 'in_progress', inDomain)}
      UNION ALL${nextTasks(4, 'todo', inDomain)}
    ) branches
    ORDER BY rank, created_at, id LIMIT $4
  )
  -- A decision's domain is its workstream's, else its own topic's.
  SELECT CASE p.rank WHEN 2 THEN 'decision' ELSE 'task' END AS kind, p.id, p.title, p.status,
         p.created_at AS waiting_since, p.rank,
         w.id AS workstream_id, w.slug AS workstream_slug, w.title AS workstream_title,
         r.slug AS repo_slug, coalesce(d.slug, dt.slug) AS domain_slug,
         (extract(epoch FROM p.created_at) * 1000000)::bigint AS waiting_since_us
    FROM page p
    LEFT JOIN statehub.workstreams w ON w.id = p.workstream_id
    ${workstreamContext}
    LEFT JOIN statehub.topics dtp ON dtp.id = p.topic_id
    LEFT JOIN statehub.domains dt ON dt.id = dtp.domain_id
   ORDER BY p.rank, p.created_at, p.id`;
const NEXT_STEPS_SQL = { all: nextStepsSql(undefined), id: nextStepsSql('id'), slug: nextStepsSql('slug') };

/** Where a next-steps page ends. waiting_since in microseconds: a JS Date keeps milliseconds only. */
interface StepKey {
  rank: number;
  waitingSinceUs: number;
  id: number;
}

const encodeStepCursor = (k: StepKey) => Buffer.from(`step:${k.rank}:${k.waitingSinceUs}:${k.id}`).toString('base64url');

function decodeStepCursor(cursor: string): StepKey {
  const m = /^step:([1-4]):(0|-?[1-9][0-9]{0,15}):([1-9][0-9]{0,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw badCursor();
  const key = { rank: Number(m[1]), waitingSinceUs: Number(m[2]), id: Number(m[3]) };
  if (!Number.isSafeInteger(key.waitingSinceUs) || !Number.isSafeInteger(key.id)) throw badCursor();
  return key;
}

interface StepRow {
  rank: number;
  id: number;
  waiting_since_us: number;
}

export const nextStep = z.object({
  kind: z.enum(['task', 'decision']),
  id: z.number().meta({ description: 'the id of the task or decision' }),
  title: z.string(),
  status: z.enum([...taskStatus.extract(['blocked', 'in_progress', 'todo']).options, ...decisionStatus.extract(['open']).options]),
  waiting_since: timestamp.meta({ description: 'when the task or decision was created' }),
  rank: z.number().meta({ description: '1 blocked task, 2 open decision, 3 task in progress, 4 task to do' }),
  workstream_id: z.number().nullable(),
  workstream_slug: z.string().nullable(),
  workstream_title: z.string().nullable(),
  repo_slug: z.string().nullable(),
  domain_slug: z.string().nullable(),
});

const OPEN_LIST_CAP = 100;
/** The statuses of workstreams still to be finished: the overview lists these. */
const openWorkstream = workstreamStatus.extract(['planned', 'active', 'blocked']);

const overviewWorkstream = z.object({
  id: z.number(),
  slug: z.string(),
  title: z.string(),
  status: workstreamStatus,
  repo_id: z.number().nullable(),
  topic_id: z.number(),
  updated_at: timestamp,
});
const withItems = z.object({ count: z.number(), items: z.array(overviewWorkstream) });
const countOnly = z.object({ count: z.number() });

export const domainOverview = z.object({
  domain,
  active_goal: domainGoal.omit({ domain_slug: true }).nullable(),
  repos: z.array(repo.omit({ domain_slug: true })).meta({ description: `by slug, at most ${MAX_PAGE}` }),
  workstreams_by_status: z
    .object(Object.fromEntries(workstreamStatus.options.map((s) => [s, openWorkstream.safeParse(s).success ? withItems : countOnly])))
    .meta({ description: `how many workstreams have each status; open ones listed, at most ${OPEN_LIST_CAP} per status, most recently changed first` }),
  open_decisions: z.array(decision).meta({ description: `oldest first, at most ${OPEN_LIST_CAP}` }),
});

export const readModels = {
  nextSteps: operation({
    summary: 'Open tasks of active workstreams and open decisions, most urgent first, with workstream/repo/domain context',
    writes: false,
    input: z.strictObject({ ...pageInput, domain: idOrSlug.optional().meta({ description: 'only the next steps of this domain (an id or a slug)' }) }),
    output: page(nextStep),
    run: async ({ limit, cursor, domain }, db) => {
      const after = cursor === undefined ? { rank: 0, waitingSinceUs: 0, id: 0 } : decodeStepCursor(cursor);
      const params: unknown[] = [after.rank, after.waitingSinceUs, after.id, limit + 1];
      if (domain !== undefined) params.push(domain);
      const sql = domain === undefined ? NEXT_STEPS_SQL.all : typeof domain === 'number' ? NEXT_STEPS_SQL.id : NEXT_STEPS_SQL.slug;
      const { rows } = await db.query<StepRow>(sql, params);
      // An empty page of a domain that does not exist says so, rather than "nothing to do".
      if (rows.length === 0 && domain !== undefined) {
        const known = await db.query(`SELECT 1 FROM statehub.domains WHERE ${typeof domain === 'number' ? 'id' : 'slug'} = $1`, [domain]);
        if (known.rowCount === 0) throw notFound(`domain ${domain}`);
      }
      const items = rows.slice(0, limit).map(({ waiting_since_us: _key, ...item }) => item);
      const last = rows.length > limit ? rows[limit - 1]! : undefined;
      return { items, next_cursor: last ? encodeStepCursor({ rank: last.rank, waitingSinceUs: last.waiting_since_us, id: last.id }) : null };
    },
  }),

  domainOverview: operation({
    summary: 'A domain at a glance: active goal, repos, workstreams by status, open decisions',
    writes: false,
    input: z.strictObject({ slug }),
    output: domainOverview,
    run: ({ slug }, db) =>
      db.tx(async (q) => {
        await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const found = await getOne<{ id: number }>(q, 'SELECT t.* FROM statehub.domains t', 't.slug', slug, `domain ${slug}`);
        // One client runs one query at a time; sequential awaits inside one snapshot.
        const goal = await q.query(`SELECT * FROM statehub.domain_goals WHERE domain_id = $1 AND status = 'active'`, [found.id]);
        const repos = await q.query('SELECT * FROM statehub.repos WHERE domain_id = $1 ORDER BY slug LIMIT $2', [found.id, MAX_PAGE]);
        const counts = await q.query(
          `SELECT w.status::text AS status, count(*)::int AS n FROM statehub.workstreams w ${workstreamContext}
            WHERE d.id = $1 GROUP BY w.status`,
          [found.id],
        );
        // Up to OPEN_LIST_CAP per open status, most recently changed first.
        const open = await q.query(
          `SELECT id, slug, title, status, repo_id, topic_id, updated_at FROM (
             SELECT w.*, row_number() OVER (PARTITION BY w.status ORDER BY w.updated_at DESC, w.id) AS n
               FROM statehub.workstreams w ${workstreamContext}
              WHERE d.id = $1 AND w.status = ANY ($3::statehub.workstream_status[])) ranked
            WHERE n <= $2 ORDER BY updated_at DESC, id`,
          [found.id, OPEN_LIST_CAP, openWorkstream.options],
        );
        const decisions = await q.query(
          `SELECT dc.* FROM statehub.decisions dc
             LEFT JOIN statehub.workstreams w ON w.id = dc.workstream_id ${workstreamContext}
             LEFT JOIN statehub.topics dtp ON dtp.id = dc.topic_id
            WHERE dc.status = 'open' AND (d.id = $1 OR dtp.domain_id = $1) ORDER BY dc.created_at, dc.id LIMIT $2`,
          [found.id, OPEN_LIST_CAP],
        );
        const byStatus: Record<string, { count: number; items?: unknown[] }> = {};
        for (const s of workstreamStatus.options) byStatus[s] = { count: 0 };
        for (const c of counts.rows) byStatus[c.status]!.count = c.n;
        for (const s of openWorkstream.options) byStatus[s]!.items = open.rows.filter((w) => w.status === s);
        return { domain: found, active_goal: goal.rows[0] ?? null, repos: repos.rows, workstreams_by_status: byStatus, open_decisions: decisions.rows };
      }),
  }),
};
