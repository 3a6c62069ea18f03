-- Up Migration
-- Bearer tokens for the HTTP API (`statehub token create | list | revoke`; src/api/auth.ts).
-- A token's secret is shown once, when it is created, and never stored: only its SHA-256 is.
-- The secret is 32 random bytes, so a fast hash is enough (there is nothing to guess), and
-- the API finds a token by the hash of what a client sent, comparing nothing secret in time.
CREATE TABLE statehub.api_tokens (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Who calls: written to the API's request log as the actor. Lower case and plain characters
  -- only, so two names cannot look alike and a name cannot forge or break a log line.
  name          text NOT NULL CONSTRAINT api_tokens_name_key UNIQUE
                CONSTRAINT api_tokens_name_format CHECK (name ~ '^[a-z0-9][a-z0-9._@-]{0,99}$'),
  -- read: GET routes and /openapi.json; write: every route.
  scope         text NOT NULL CONSTRAINT api_tokens_scope_known CHECK (scope IN ('read', 'write')),
  secret_sha256 bytea NOT NULL CONSTRAINT api_tokens_secret_sha256_key UNIQUE
                CONSTRAINT api_tokens_secret_sha256_length CHECK (octet_length(secret_sha256) = 32),
  created_at    timestamptz NOT NULL DEFAULT now(),
  -- NULL: never expires.
  expires_at    timestamptz CONSTRAINT api_tokens_expires_after_created CHECK (expires_at > created_at),
  -- Set by `statehub token revoke`; a revoked token is kept so its name and history stay known.
  revoked_at    timestamptz,
  -- Updated at most once a minute (statehub.authenticate_token), so reads stay reads.
  last_used_at  timestamptz
);
COMMENT ON TABLE statehub.api_tokens IS
  'Bearer tokens of the HTTP API. Only the SHA-256 of each secret is stored; manage with statehub token create|list|revoke.';

-- Down Migration
DROP TABLE statehub.api_tokens;
