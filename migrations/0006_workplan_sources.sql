-- Up Migration
-- What the consistency engine (src/sync, docs/workplans.md) remembers about the workstreams and
-- tasks it made from, or matched with, the workplan files of a repo: which file or task key each
-- one comes from, and the base of its three-way merge. Workstreams and tasks made through the
-- API have no row here, and the engine leaves them alone.
--
-- base holds, per field, the value the file had the last time file and hub agreed on that field
-- (workstreams: title, status, topic (a slug), repo_goal (an id or null); tasks: title, status).
-- A field missing from base has never agreed: the next sync treats it as a first sync. The
-- engine writes these rows only when a base or a path changes (a file edited, a first sync,
-- a workstream claimed or renamed), so re-syncing an unchanged file writes nothing.

CREATE TABLE statehub.workplan_workstreams (
  workstream_id bigint PRIMARY KEY REFERENCES statehub.workstreams (id),
  repo_id       bigint NOT NULL REFERENCES statehub.repos (id),
  -- The workplan file inside the repo, e.g. workplans/CUST-WP-0040-nats-events.md. Not unique:
  -- a file that changes its id leaves the old workstream pointing at the same path.
  path          text NOT NULL CHECK (length(path) BETWEEN 1 AND 1000),
  base          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(base) = 'object'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workplan_workstreams_repo_id ON statehub.workplan_workstreams (repo_id);
COMMENT ON TABLE statehub.workplan_workstreams IS
  'Workstreams that come from a workplan file: the file, and the merge base per field (docs/workplans.md).';

CREATE TABLE statehub.workplan_tasks (
  task_id       bigint PRIMARY KEY,
  workstream_id bigint NOT NULL REFERENCES statehub.workplan_workstreams (workstream_id),
  -- The task's key in the file: "T05" in "CUST-WP-0040 T05".
  key           text NOT NULL CHECK (key ~ '^T[0-9]{1,9}$'),
  base          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(base) = 'object'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  -- The task belongs to the workstream named here (tasks_id_workstream_id_key, migration 0003).
  CONSTRAINT workplan_tasks_task_in_workstream FOREIGN KEY (task_id, workstream_id) REFERENCES statehub.tasks (id, workstream_id),
  CONSTRAINT workplan_tasks_key_once_per_workstream UNIQUE (workstream_id, key)
);
COMMENT ON TABLE statehub.workplan_tasks IS
  'Tasks that come from a line of a workplan file: the key, and the merge base per field (docs/workplans.md).';

-- Down Migration
DROP TABLE statehub.workplan_tasks;
DROP TABLE statehub.workplan_workstreams;
