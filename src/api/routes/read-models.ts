// Read models: what to do next across the hub, and one domain at a glance.
import { z } from 'zod';
import type { Api } from '../route.ts';
import { getOne, intText, MAX_PAGE, slugParams } from '../common.ts';

// Where a workstream belongs: its repo's domain, else its topic's.
const workstreamContext = `
  LEFT JOIN statehub.repos r ON r.id = w.repo_id
  LEFT JOIN statehub.topics tp ON tp.id = w.topic_id
  LEFT JOIN statehub.domains d ON d.id = coalesce(r.domain_id, tp.domain_id)`;

// Urgency: blocked tasks first (someone must unblock them), then open decisions (work waits on
// them), then tasks in progress, then tasks to do; oldest first within each rank.
const nextStepsSql = `
  SELECT * FROM (
    SELECT 'task' AS kind, t.id, t.title, t.status::text AS status, t.created_at AS waiting_since,
           CASE t.status WHEN 'blocked' THEN 1 WHEN 'in_progress' THEN 3 ELSE 4 END AS rank,
           w.id AS workstream_id, w.slug AS workstream_slug, w.title AS workstream_title,
           r.slug AS repo_slug, d.slug AS domain_slug
      FROM statehub.tasks t
      JOIN statehub.workstreams w ON w.id = t.workstream_id AND w.status = 'active'
      ${workstreamContext}
     WHERE t.status IN ('todo', 'in_progress', 'blocked')
    UNION ALL
    SELECT 'decision', dc.id, dc.title, dc.status::text, dc.created_at, 2,
           w.id, w.slug, w.title, r.slug, coalesce(d.slug, dt.slug)
      FROM statehub.decisions dc
      LEFT JOIN statehub.workstreams w ON w.id = dc.workstream_id
      ${workstreamContext}
      LEFT JOIN statehub.topics dtp ON dtp.id = dc.topic_id
      LEFT JOIN statehub.domains dt ON dt.id = dtp.domain_id
     WHERE dc.status = 'open'
  ) steps
  ORDER BY rank, waiting_since, kind, id
  LIMIT $1 OFFSET $2`;

const OPEN_LIST_CAP = 100;

export function readModelRoutes(api: Api): void {
  const tag = 'read models';
  api.add(
    {
      method: 'get', access: 'read', path: '/next-steps', tag,
      summary: 'Open tasks of active workstreams and open decisions, most urgent first, with workstream/repo/domain context',
      query: z.object({
        limit: intText(1, MAX_PAGE).default(100),
        offset: intText(0, 1_000_000).default(0),
      }),
    },
    async ({ query }, db) => {
      const { rows } = await db.query(nextStepsSql, [query.limit + 1, query.offset]);
      const more = rows.length > query.limit;
      return { items: rows.slice(0, query.limit), next_offset: more ? query.offset + query.limit : null };
    },
  );

  api.add(
    {
      method: 'get', access: 'read', path: '/domains/:slug/overview', tag, params: slugParams,
      summary: 'A domain at a glance: active goal, repos, workstreams by status, open decisions',
    },
    ({ params }, db) =>
      db.tx(async (q) => {
        await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const domain = await getOne<{ id: number }>(q, 'SELECT t.* FROM statehub.domains t', 't.slug', params.slug, `domain ${params.slug}`);
        // One client runs one query at a time; sequential awaits inside one snapshot.
        const goal = await q.query(`SELECT * FROM statehub.domain_goals WHERE domain_id = $1 AND status = 'active'`, [domain.id]);
        const repos = await q.query('SELECT * FROM statehub.repos WHERE domain_id = $1 ORDER BY slug LIMIT $2', [domain.id, MAX_PAGE]);
        const counts = await q.query(
          `SELECT w.status::text AS status, count(*)::int AS n FROM statehub.workstreams w ${workstreamContext}
            WHERE d.id = $1 GROUP BY w.status`,
          [domain.id],
        );
        // Up to OPEN_LIST_CAP per open status, most recently changed first.
        const open = await q.query(
          `SELECT id, slug, title, status, repo_id, topic_id, updated_at FROM (
             SELECT w.*, row_number() OVER (PARTITION BY w.status ORDER BY w.updated_at DESC, w.id) AS n
               FROM statehub.workstreams w ${workstreamContext}
              WHERE d.id = $1 AND w.status IN ('planned', 'active', 'blocked')) ranked
            WHERE n <= $2 ORDER BY updated_at DESC, id`,
          [domain.id, OPEN_LIST_CAP],
        );
        const decisions = await q.query(
          `SELECT dc.* FROM statehub.decisions dc
             LEFT JOIN statehub.workstreams w ON w.id = dc.workstream_id ${workstreamContext}
             LEFT JOIN statehub.topics dtp ON dtp.id = dc.topic_id
            WHERE dc.status = 'open' AND (d.id = $1 OR dtp.domain_id = $1) ORDER BY dc.created_at, dc.id LIMIT $2`,
          [domain.id, OPEN_LIST_CAP],
        );
        const byStatus: Record<string, { count: number; items?: unknown[] }> = {};
        for (const s of ['planned', 'active', 'blocked', 'completed', 'cancelled']) byStatus[s] = { count: 0 };
        for (const c of counts.rows) byStatus[c.status]!.count = c.n;
        for (const s of ['planned', 'active', 'blocked']) {
          byStatus[s]!.items = open.rows.filter((w) => w.status === s);
        }
        return {
          domain,
          active_goal: goal.rows[0] ?? null,
          repos: repos.rows,
          workstreams_by_status: byStatus,
          open_decisions: decisions.rows,
        };
      }),
  );
}
