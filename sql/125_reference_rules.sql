-- Reference rules that span three tables, so no foreign key can state them. Each refuses the
-- change with SQLSTATE SH005 (HTTP 409) and a sentence naming the rule. The composite foreign
-- keys of migrations/0003 hold the two-table rules.
--
--   1. A repo goal serves only a goal of its repo's domain: repo_goals.domain_goal_id points at
--      a domain goal whose domain_id is the repo's domain_id. Checked when a repo goal is
--      written, when a repo moves to another domain, and when a domain goal does.
--   2. A finished workstream takes no new work: an open task (todo, in_progress, blocked) cannot
--      be added to, or moved into, a completed or cancelled workstream. Completing a workstream
--      that still has open tasks stays legal; the stale-task rule (sql/240) cancels them.
--
-- Concurrency: the check on the writing side locks the rows it reads FOR SHARE, and a change on
-- the other side holds its row's update lock, so two concurrent transactions cannot both pass
-- (the later one waits, then sees the first's committed row). This holds in READ COMMITTED,
-- which every state-hub process uses; a REPEATABLE READ transaction reads its snapshot and may
-- miss a change committed after it began.
--
-- SECURITY DEFINER: FOR SHARE needs UPDATE privilege on the locked table, which a writer of
-- tasks need not have on workstreams. The functions read only the rows they check.

CREATE OR REPLACE FUNCTION statehub.tg_repo_goals__check_domain_goal() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_repo_domain bigint;
  v_goal_domain bigint;
BEGIN
  SELECT domain_id INTO v_repo_domain FROM statehub.repos WHERE id = NEW.repo_id FOR SHARE;
  SELECT domain_id INTO v_goal_domain FROM statehub.domain_goals WHERE id = NEW.domain_goal_id FOR SHARE;
  -- A missing repo or goal is the foreign key's to report.
  IF v_repo_domain IS DISTINCT FROM v_goal_domain AND v_repo_domain IS NOT NULL AND v_goal_domain IS NOT NULL THEN
    RAISE EXCEPTION 'a repo goal can only serve a goal of its repo''s domain: domain goal % belongs to another domain than repo %',
                    NEW.domain_goal_id, NEW.repo_id
      USING ERRCODE = 'SH005', HINT = 'link a goal of the repo''s own domain, or none';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION statehub.tg_repo_goals__check_domain_goal() IS
  'BEFORE INSERT/UPDATE on repo_goals: the linked domain goal belongs to the repo''s domain (SH005).';

CREATE OR REPLACE TRIGGER _250_check_domain_goal BEFORE INSERT OR UPDATE OF repo_id, domain_goal_id ON statehub.repo_goals
  FOR EACH ROW WHEN (NEW.domain_goal_id IS NOT NULL)
  EXECUTE FUNCTION statehub.tg_repo_goals__check_domain_goal();
COMMENT ON TRIGGER _250_check_domain_goal ON statehub.repo_goals IS
  'A repo goal serves only a goal of its repo''s domain (SH005).';

CREATE OR REPLACE FUNCTION statehub.tg_repos__check_goal_links() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM statehub.repo_goals rg JOIN statehub.domain_goals dg ON dg.id = rg.domain_goal_id
              WHERE rg.repo_id = NEW.id AND dg.domain_id <> NEW.domain_id) THEN
    RAISE EXCEPTION 'a repo goal can only serve a goal of its repo''s domain: goals of repo % serve goals of the domain it would leave',
                    NEW.slug
      USING ERRCODE = 'SH005', HINT = 'unlink those repo goals (domain_goal_id = null) before moving the repo';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION statehub.tg_repos__check_goal_links() IS
  'BEFORE UPDATE OF domain_id on repos: refuses the move while the repo''s goals serve goals of another domain (SH005).';

CREATE OR REPLACE TRIGGER _250_check_goal_links BEFORE UPDATE OF domain_id ON statehub.repos
  FOR EACH ROW WHEN (NEW.domain_id IS DISTINCT FROM OLD.domain_id)
  EXECUTE FUNCTION statehub.tg_repos__check_goal_links();
COMMENT ON TRIGGER _250_check_goal_links ON statehub.repos IS
  'A repo whose goals serve domain goals stays in that domain (SH005).';

CREATE OR REPLACE FUNCTION statehub.tg_domain_goals__check_repo_links() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM statehub.repo_goals rg JOIN statehub.repos r ON r.id = rg.repo_id
              WHERE rg.domain_goal_id = NEW.id AND r.domain_id <> NEW.domain_id) THEN
    RAISE EXCEPTION 'a repo goal can only serve a goal of its repo''s domain: domain goal % is served by repo goals of the domain it would leave',
                    NEW.id
      USING ERRCODE = 'SH005', HINT = 'unlink those repo goals before moving the domain goal';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION statehub.tg_domain_goals__check_repo_links() IS
  'BEFORE UPDATE OF domain_id on domain_goals: refuses the move while repo goals of the old domain serve it (SH005).';

CREATE OR REPLACE TRIGGER _250_check_repo_links BEFORE UPDATE OF domain_id ON statehub.domain_goals
  FOR EACH ROW WHEN (NEW.domain_id IS DISTINCT FROM OLD.domain_id)
  EXECUTE FUNCTION statehub.tg_domain_goals__check_repo_links();
COMMENT ON TRIGGER _250_check_repo_links ON statehub.domain_goals IS
  'A domain goal served by repo goals stays in their repos'' domain (SH005).';

CREATE OR REPLACE FUNCTION statehub.tg_tasks__check_workstream_open() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_status statehub.workstream_status;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.workstream_id = OLD.workstream_id THEN
    RETURN NEW;
  END IF;
  -- FOR SHARE waits for a concurrent completion of this workstream and then reads its outcome.
  SELECT status INTO v_status FROM statehub.workstreams WHERE id = NEW.workstream_id FOR SHARE;
  IF v_status IN ('completed', 'cancelled') THEN
    RAISE EXCEPTION 'a % workstream takes no new open tasks: workstream % is %', v_status, NEW.workstream_id, v_status
      USING ERRCODE = 'SH005', HINT = 'add the task to an open workstream';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION statehub.tg_tasks__check_workstream_open() IS
  'BEFORE INSERT/UPDATE OF workstream_id on tasks: an open task joins only a workstream that is not completed or cancelled (SH005).';

CREATE OR REPLACE TRIGGER _250_check_workstream_open BEFORE INSERT OR UPDATE OF workstream_id ON statehub.tasks
  FOR EACH ROW WHEN (NEW.status IN ('todo', 'in_progress', 'blocked'))
  EXECUTE FUNCTION statehub.tg_tasks__check_workstream_open();
COMMENT ON TRIGGER _250_check_workstream_open ON statehub.tasks IS
  'No new open task on a completed or cancelled workstream (SH005).';
