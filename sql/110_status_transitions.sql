-- The legal status changes of every entity with a lifecycle. A row (entity, NULL, s) means a
-- new row may start in status s. Anything not listed here is refused by the trigger in
-- 120_transition_rules.sql with SQLSTATE SH001. Terminal statuses simply have no outgoing row.

DELETE FROM statehub.status_transitions;

INSERT INTO statehub.status_transitions (entity, from_status, to_status) VALUES
  -- Domain goals start as drafts; activation goes through statehub.activate_domain_goal().
  ('domain_goal', NULL,     'draft'),
  ('domain_goal', 'draft',  'active'),
  ('domain_goal', 'draft',  'abandoned'),
  ('domain_goal', 'active', 'superseded'),
  ('domain_goal', 'active', 'achieved'),
  ('domain_goal', 'active', 'abandoned'),

  ('repo_goal', NULL,     'draft'),
  ('repo_goal', NULL,     'active'),
  ('repo_goal', 'draft',  'active'),
  ('repo_goal', 'draft',  'abandoned'),
  ('repo_goal', 'active', 'draft'),
  ('repo_goal', 'active', 'achieved'),
  ('repo_goal', 'active', 'abandoned'),

  -- completed and cancelled are final: a workstream completes at most once.
  ('workstream', NULL,      'planned'),
  ('workstream', NULL,      'active'),
  ('workstream', NULL,      'blocked'),
  ('workstream', 'planned', 'active'),
  ('workstream', 'planned', 'blocked'),
  ('workstream', 'planned', 'completed'),
  ('workstream', 'planned', 'cancelled'),
  ('workstream', 'active',  'planned'),
  ('workstream', 'active',  'blocked'),
  ('workstream', 'active',  'completed'),
  ('workstream', 'active',  'cancelled'),
  ('workstream', 'blocked', 'planned'),
  ('workstream', 'blocked', 'active'),
  ('workstream', 'blocked', 'completed'),
  ('workstream', 'blocked', 'cancelled'),

  -- done and cancelled are final.
  ('task', NULL,          'todo'),
  ('task', NULL,          'in_progress'),
  ('task', NULL,          'blocked'),
  ('task', 'todo',        'in_progress'),
  ('task', 'todo',        'blocked'),
  ('task', 'todo',        'done'),
  ('task', 'todo',        'cancelled'),
  ('task', 'in_progress', 'todo'),
  ('task', 'in_progress', 'blocked'),
  ('task', 'in_progress', 'done'),
  ('task', 'in_progress', 'cancelled'),
  ('task', 'blocked',     'todo'),
  ('task', 'blocked',     'in_progress'),
  ('task', 'blocked',     'done'),
  ('task', 'blocked',     'cancelled'),

  -- A decision is open until it is resolved or withdrawn, and never reopens.
  ('decision', NULL,   'open'),
  ('decision', 'open', 'resolved'),
  ('decision', 'open', 'withdrawn');
