-- Up Migration
-- Indexes for the reads the API offers, so that no request makes PostgreSQL read or sort a
-- whole table:
--
-- * Every list (GET /tasks?status=todo, /decisions?topic=7, ...) is keyset-paged on id:
--   `WHERE <filter> [AND t.id > <cursor>] ORDER BY t.id LIMIT n`. An index on (filter column,
--   id) hands PostgreSQL the matching rows already in id order, starting at the cursor, so a
--   page reads about n index entries. An index on the filter column alone finds the rows but
--   then sorts all of them, however deep the page. test/list-indexes.test.ts checks every
--   filter the routes declare.
-- * GET /next-steps walks one partial index per rank in (created_at, id) order from its cursor
--   (src/api/routes/read-models.ts): open tasks by status, open decisions.
--
-- Each (column, id) index also covers what the single-column index it replaces did (lookups by
-- that column, the foreign-key checks when a referenced row changes), so those are dropped.
-- tasks_workstream_id_status stays: statehub.stale_tasks (sql/240_cancel_stale_tasks.sql)
-- looks up the open tasks of a workstream by (workstream_id, status).
--
-- For DBAs: migrations run in one transaction, so these are plain CREATE INDEX, which blocks
-- writes to the table while it builds. On a large existing table, build them beforehand by
-- hand with the same statement as CREATE INDEX CONCURRENTLY IF NOT EXISTS ... (and drop the
-- replaced ones with DROP INDEX CONCURRENTLY IF EXISTS ...); this migration then skips what
-- already exists. IF NOT EXISTS looks at the name only: a CONCURRENTLY build that failed leaves
-- an INVALID index of that name (pg_index.indisvalid = false), which must be dropped and built
-- again before migrating.

-- Lists filtered by status.
CREATE INDEX IF NOT EXISTS domain_goals_status_id ON statehub.domain_goals (status, id);
CREATE INDEX IF NOT EXISTS repo_goals_status_id ON statehub.repo_goals (status, id);
CREATE INDEX IF NOT EXISTS workstreams_status_id ON statehub.workstreams (status, id);
CREATE INDEX IF NOT EXISTS tasks_status_id ON statehub.tasks (status, id);
CREATE INDEX IF NOT EXISTS decisions_status_id ON statehub.decisions (status, id);
DROP INDEX IF EXISTS statehub.workstreams_status;
DROP INDEX IF EXISTS statehub.decisions_status;

-- Lists filtered by a referenced row. A nullable reference keeps the partial form of the index
-- it replaces: rows without the reference are never looked up by it.
CREATE INDEX IF NOT EXISTS domain_goals_domain_id_id ON statehub.domain_goals (domain_id, id);
CREATE INDEX IF NOT EXISTS repos_domain_id_id ON statehub.repos (domain_id, id);
CREATE INDEX IF NOT EXISTS repo_goals_repo_id_id ON statehub.repo_goals (repo_id, id);
CREATE INDEX IF NOT EXISTS topics_domain_id_id ON statehub.topics (domain_id, id) WHERE domain_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS workstreams_topic_id_id ON statehub.workstreams (topic_id, id);
CREATE INDEX IF NOT EXISTS workstreams_repo_id_id ON statehub.workstreams (repo_id, id) WHERE repo_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_workstream_id_id ON statehub.tasks (workstream_id, id);
-- decisions.topic_id had no index at all: besides the list, deleting or re-keying a topic read
-- every decision to check the foreign key.
CREATE INDEX IF NOT EXISTS decisions_topic_id_id ON statehub.decisions (topic_id, id) WHERE topic_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS decisions_workstream_id_id ON statehub.decisions (workstream_id, id) WHERE workstream_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS progress_events_task_id_id ON statehub.progress_events (task_id, id) WHERE task_id IS NOT NULL;
-- progress_events (workstream_id, id) exists since 0001 (progress_events_workstream_id).
DROP INDEX IF EXISTS statehub.domain_goals_domain_id;
DROP INDEX IF EXISTS statehub.repos_domain_id;
DROP INDEX IF EXISTS statehub.repo_goals_repo_id;
DROP INDEX IF EXISTS statehub.topics_domain_id;
DROP INDEX IF EXISTS statehub.workstreams_topic_id;
DROP INDEX IF EXISTS statehub.workstreams_repo_id;
DROP INDEX IF EXISTS statehub.decisions_workstream_id;
DROP INDEX IF EXISTS statehub.progress_events_task_id;

-- GET /next-steps: one branch per rank reads its rows in (created_at, id) order from the
-- cursor. Partial, so the index holds only the rows the read model shows, not the done and
-- cancelled tasks or the settled decisions that make up most of the tables over time.
CREATE INDEX IF NOT EXISTS tasks_open_created_at_id ON statehub.tasks (status, created_at, id)
  WHERE status IN ('todo', 'in_progress', 'blocked');
CREATE INDEX IF NOT EXISTS decisions_open_created_at_id ON statehub.decisions (created_at, id)
  WHERE status = 'open';

-- Down Migration
CREATE INDEX IF NOT EXISTS workstreams_status ON statehub.workstreams (status);
CREATE INDEX IF NOT EXISTS decisions_status ON statehub.decisions (status);
CREATE INDEX IF NOT EXISTS domain_goals_domain_id ON statehub.domain_goals (domain_id);
CREATE INDEX IF NOT EXISTS repos_domain_id ON statehub.repos (domain_id);
CREATE INDEX IF NOT EXISTS repo_goals_repo_id ON statehub.repo_goals (repo_id);
CREATE INDEX IF NOT EXISTS topics_domain_id ON statehub.topics (domain_id) WHERE domain_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS workstreams_topic_id ON statehub.workstreams (topic_id);
CREATE INDEX IF NOT EXISTS workstreams_repo_id ON statehub.workstreams (repo_id) WHERE repo_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS decisions_workstream_id ON statehub.decisions (workstream_id) WHERE workstream_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS progress_events_task_id ON statehub.progress_events (task_id) WHERE task_id IS NOT NULL;
DROP INDEX IF EXISTS statehub.decisions_open_created_at_id;
DROP INDEX IF EXISTS statehub.tasks_open_created_at_id;
DROP INDEX IF EXISTS statehub.progress_events_task_id_id;
DROP INDEX IF EXISTS statehub.decisions_workstream_id_id;
DROP INDEX IF EXISTS statehub.decisions_topic_id_id;
DROP INDEX IF EXISTS statehub.tasks_workstream_id_id;
DROP INDEX IF EXISTS statehub.workstreams_repo_id_id;
DROP INDEX IF EXISTS statehub.workstreams_topic_id_id;
DROP INDEX IF EXISTS statehub.topics_domain_id_id;
DROP INDEX IF EXISTS statehub.repo_goals_repo_id_id;
DROP INDEX IF EXISTS statehub.repos_domain_id_id;
DROP INDEX IF EXISTS statehub.domain_goals_domain_id_id;
DROP INDEX IF EXISTS statehub.decisions_status_id;
DROP INDEX IF EXISTS statehub.tasks_status_id;
DROP INDEX IF EXISTS statehub.workstreams_status_id;
DROP INDEX IF EXISTS statehub.repo_goals_status_id;
DROP INDEX IF EXISTS statehub.domain_goals_status_id;
