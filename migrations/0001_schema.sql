-- Up Migration
-- The hub's tables. Statuses are enums so a typo cannot become a state; which status may
-- follow which is data (statehub.status_transitions, filled by sql/110_status_transitions.sql)
-- and is enforced by the trigger in sql/120_transition_rules.sql.

CREATE SCHEMA statehub;
COMMENT ON SCHEMA statehub IS 'state-hub: read model of cross-domain work state';

CREATE TYPE statehub.domain_goal_status AS ENUM ('draft', 'active', 'superseded', 'achieved', 'abandoned');
CREATE TYPE statehub.repo_goal_status AS ENUM ('draft', 'active', 'achieved', 'abandoned');
CREATE TYPE statehub.workstream_status AS ENUM ('planned', 'active', 'blocked', 'completed', 'cancelled');
CREATE TYPE statehub.task_status AS ENUM ('todo', 'in_progress', 'blocked', 'done', 'cancelled');
CREATE TYPE statehub.decision_status AS ENUM ('open', 'resolved', 'withdrawn');

CREATE TABLE statehub.domains (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description text CHECK (length(description) <= 10000),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE statehub.domain_goals (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  domain_id     bigint NOT NULL REFERENCES statehub.domains (id),
  title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
  description   text CHECK (length(description) <= 10000),
  status        statehub.domain_goal_status NOT NULL DEFAULT 'draft',
  superseded_by bigint REFERENCES statehub.domain_goals (id),
  activated_at  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT domain_goals_superseded_by_iff_superseded CHECK ((status = 'superseded') = (superseded_by IS NOT NULL)),
  CONSTRAINT domain_goals_not_superseded_by_itself CHECK (superseded_by <> id)
);
-- At most one active goal per domain.
CREATE UNIQUE INDEX domain_goals_one_active_per_domain ON statehub.domain_goals (domain_id) WHERE status = 'active';
CREATE INDEX domain_goals_domain_id ON statehub.domain_goals (domain_id);
CREATE INDEX domain_goals_superseded_by ON statehub.domain_goals (superseded_by) WHERE superseded_by IS NOT NULL;

CREATE TABLE statehub.repos (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
  domain_id     bigint NOT NULL REFERENCES statehub.domains (id),
  remote_url    text CHECK (length(remote_url) <= 2000),
  local_path    text CHECK (length(local_path) <= 2000),
  registered_at timestamptz NOT NULL DEFAULT now(),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX repos_domain_id ON statehub.repos (domain_id);

CREATE TABLE statehub.repo_goals (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  repo_id        bigint NOT NULL REFERENCES statehub.repos (id),
  domain_goal_id bigint REFERENCES statehub.domain_goals (id),
  title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
  status         statehub.repo_goal_status NOT NULL DEFAULT 'draft',
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX repo_goals_repo_id ON statehub.repo_goals (repo_id);
CREATE INDEX repo_goals_domain_goal_id ON statehub.repo_goals (domain_goal_id) WHERE domain_goal_id IS NOT NULL;

CREATE TABLE statehub.topics (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
  title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
  domain_id  bigint REFERENCES statehub.domains (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX topics_domain_id ON statehub.topics (domain_id) WHERE domain_id IS NOT NULL;

CREATE TABLE statehub.workstreams (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug         text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
  title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
  topic_id     bigint NOT NULL REFERENCES statehub.topics (id),
  repo_id      bigint REFERENCES statehub.repos (id),
  repo_goal_id bigint REFERENCES statehub.repo_goals (id),
  status       statehub.workstream_status NOT NULL DEFAULT 'planned',
  completed_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workstreams_status ON statehub.workstreams (status);
CREATE INDEX workstreams_topic_id ON statehub.workstreams (topic_id);
CREATE INDEX workstreams_repo_id ON statehub.workstreams (repo_id) WHERE repo_id IS NOT NULL;

CREATE TABLE statehub.tasks (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workstream_id bigint NOT NULL REFERENCES statehub.workstreams (id),
  title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
  status        statehub.task_status NOT NULL DEFAULT 'todo',
  status_reason text CHECK (length(status_reason) <= 2000),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_workstream_id_status ON statehub.tasks (workstream_id, status);

CREATE TABLE statehub.decisions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
  topic_id      bigint REFERENCES statehub.topics (id),
  workstream_id bigint REFERENCES statehub.workstreams (id),
  status        statehub.decision_status NOT NULL DEFAULT 'open',
  decided_by    text CHECK (length(decided_by) BETWEEN 1 AND 200),
  rationale     text CHECK (length(rationale) <= 20000),
  resolved_at   timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  -- A resolution names who decided and why.
  CONSTRAINT decisions_resolved_has_decider CHECK (status <> 'resolved' OR (decided_by IS NOT NULL AND rationale IS NOT NULL))
);
CREATE INDEX decisions_status ON statehub.decisions (status);
CREATE INDEX decisions_workstream_id ON statehub.decisions (workstream_id) WHERE workstream_id IS NOT NULL;

CREATE TABLE statehub.progress_events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workstream_id bigint REFERENCES statehub.workstreams (id),
  task_id       bigint REFERENCES statehub.tasks (id),
  kind          text NOT NULL DEFAULT 'note' CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,63}$'),
  message       text NOT NULL CHECK (length(message) BETWEEN 1 AND 20000),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX progress_events_workstream_id ON statehub.progress_events (workstream_id, id) WHERE workstream_id IS NOT NULL;
CREATE INDEX progress_events_task_id ON statehub.progress_events (task_id) WHERE task_id IS NOT NULL;

-- Which status may follow which. from_status NULL lists the statuses a row may be created with.
CREATE TABLE statehub.status_transitions (
  entity      text NOT NULL CHECK (entity IN ('domain_goal', 'repo_goal', 'workstream', 'task', 'decision')),
  from_status text,
  to_status   text NOT NULL,
  UNIQUE NULLS NOT DISTINCT (entity, from_status, to_status)
);
COMMENT ON TABLE statehub.status_transitions IS
  'Legal status changes per entity; from_status NULL = allowed initial status. Filled by sql/110_status_transitions.sql.';

-- Down Migration
DROP SCHEMA statehub CASCADE;
