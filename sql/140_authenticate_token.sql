-- How the API checks a bearer token. The API's role may not read statehub.api_tokens: it calls
-- this function with the SHA-256 of the secret a client sent and learns only that token's
-- name, scope, expiry and whether it is revoked. Creating and revoking tokens is for the
-- migrating role (`statehub token ...`), never for the API.
--   SELECT * FROM statehub.authenticate_token(sha256('shub_...'::bytea));

CREATE OR REPLACE FUNCTION statehub.authenticate_token(p_secret_sha256 bytea)
RETURNS TABLE (name text, scope text, expires_at timestamptz, revoked boolean, expired boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- Record the use of a valid token, at most once a minute: a busy client must not turn each
  -- of its requests into a row update. A concurrent caller waits for the first one's update
  -- and then finds last_used_at fresh, so it writes nothing.
  UPDATE statehub.api_tokens t
     SET last_used_at = now()
   WHERE t.secret_sha256 = p_secret_sha256
     AND t.revoked_at IS NULL
     AND (t.expires_at IS NULL OR t.expires_at > now())
     AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute');

  -- expires_at too, so a caller that reuses the answer for a while can tell when it expires;
  -- expired by this server's clock, which callers' clocks may not match.
  RETURN QUERY
    SELECT t.name, t.scope, t.expires_at, t.revoked_at IS NOT NULL, coalesce(t.expires_at <= now(), false)
      FROM statehub.api_tokens t
     WHERE t.secret_sha256 = p_secret_sha256;
END;
$$;
COMMENT ON FUNCTION statehub.authenticate_token(bytea) IS
  'The token whose secret hashes (SHA-256) to the argument: name, scope, expires_at, revoked, expired; no row if unknown. Marks last_used_at at most once a minute.';
