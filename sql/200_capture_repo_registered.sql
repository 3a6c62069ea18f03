-- Event capture: org.statehub.repo.registered
-- Fires once for every row inserted into statehub.repos, whoever inserts it (API, psql, a
-- script). The event row is written to statehub.outbox in the inserting transaction, so a
-- rolled-back registration leaves no event. Attributes must match src/events/catalog.ts;
-- optional ones (remote_url, local_path) are present as JSON null. A repo whose domain row
-- cannot be found (its foreign key dropped or bypassed) makes the insert fail: capture never
-- records nothing in silence.
--
-- SECURITY DEFINER: the function runs as the role that ran the migrations, so writers that
-- may not touch the outbox themselves (statehub_api) still capture. See docs/roles.md.

CREATE OR REPLACE FUNCTION statehub.tg_repos__capture_registered() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_domain_slug text;
BEGIN
  SELECT d.slug INTO v_domain_slug FROM statehub.domains d WHERE d.id = NEW.domain_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'repo % refers to domain %, which does not exist: its repo.registered event cannot be captured', NEW.id, NEW.domain_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  INSERT INTO statehub.outbox (subject, ordering_key, attributes)
  VALUES ('org.statehub.repo.registered',
          'repo:' || NEW.id,
          jsonb_build_object(
            'repo_id', NEW.id,
            'repo_slug', NEW.slug,
            'domain_slug', v_domain_slug,
            'remote_url', NEW.remote_url,
            'local_path', NEW.local_path));
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION statehub.tg_repos__capture_registered() IS
  'AFTER INSERT on repos: records org.statehub.repo.registered in statehub.outbox (ordering_key repo:<id>).';

CREATE OR REPLACE TRIGGER _500_capture_repo_registered AFTER INSERT ON statehub.repos
  FOR EACH ROW EXECUTE FUNCTION statehub.tg_repos__capture_registered();
COMMENT ON TRIGGER _500_capture_repo_registered ON statehub.repos IS
  'Captures org.statehub.repo.registered for every new repo (statehub.tg_repos__capture_registered).';
