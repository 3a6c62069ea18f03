// Bearer tokens of the HTTP API: the secret's format and hash, and the statements behind
// `statehub token create | list | revoke` (run as the migrating role) and the API's check
// (statehub.authenticate_token, sql/140, the only thing the API's role may do with tokens).
import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from './db.ts';

export const SCOPES = ['read', 'write'] as const;
export type Scope = (typeof SCOPES)[number];

/** Recognizable in configuration files and by secret scanners; what follows is 32 random bytes, base64url. */
const SECRET_PREFIX = 'shub_';
const secretPattern = new RegExp(`^${SECRET_PREFIX}[A-Za-z0-9_-]{43}$`);
export const TOKEN_NAME_PATTERN = /^[a-z0-9][a-z0-9._@-]{0,99}$/;

function newSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64url');
}

/** Whether text has the shape of a secret this hub issues (checked before any lookup). */
export function looksLikeSecret(text: string): boolean {
  return secretPattern.test(text);
}

export function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export interface TokenInfo {
  name: string;
  scope: Scope;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

export type TokenState = 'active' | 'expired' | 'revoked';

/** `expired`: the database's own verdict, when it gave one; this host's clock may be behind. */
export function stateOf(t: { expires_at: Date | null; revoked: boolean; expired?: boolean }, now = new Date()): TokenState {
  if (t.revoked) return 'revoked';
  return t.expired || (t.expires_at !== null && t.expires_at <= now) ? 'expired' : 'active';
}

/** Thrown when a token command cannot do what was asked; `message` is the one line to print. */
export class TokenError extends Error {
  override name = 'TokenError';
}

/** Stores a new token and returns its secret, which exists nowhere else afterwards. */
export async function createToken(db: Queryable, t: { name: string; scope: Scope; expiresInMs?: number }): Promise<{ secret: string; token: TokenInfo }> {
  const secret = newSecret();
  try {
    const { rows } = await db.query<TokenInfo>(
      `INSERT INTO statehub.api_tokens (name, scope, secret_sha256, expires_at)
       VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
       RETURNING name, scope, created_at, expires_at, revoked_at, last_used_at`,
      [t.name, t.scope, secretHash(secret), t.expiresInMs ?? null],
    );
    return { secret, token: rows[0]! };
  } catch (err) {
    if ((err as { constraint?: string }).constraint === 'api_tokens_name_key') {
      throw new TokenError(`a token named ${t.name} exists already (revoked ones too keep their name); choose another name`);
    }
    throw err;
  }
}

export async function listTokens(db: Queryable): Promise<TokenInfo[]> {
  const { rows } = await db.query<TokenInfo>(
    'SELECT name, scope, created_at, expires_at, revoked_at, last_used_at FROM statehub.api_tokens ORDER BY created_at, id',
  );
  return rows;
}

/** Revokes the token; revoking a revoked one changes nothing. Throws TokenError for an unknown name. */
export async function revokeToken(db: Queryable, name: string): Promise<{ revokedAt: Date; already: boolean }> {
  const { rows } = await db.query<{ revoked_at: Date; already: boolean }>(
    `WITH old AS (SELECT id, revoked_at FROM statehub.api_tokens WHERE name = $1 FOR UPDATE)
     UPDATE statehub.api_tokens t SET revoked_at = coalesce(old.revoked_at, now())
       FROM old WHERE t.id = old.id
     RETURNING t.revoked_at, old.revoked_at IS NOT NULL AS already`,
    [name],
  );
  if (!rows[0]) throw new TokenError(`no token is named ${name} (statehub token list shows them)`);
  return { revokedAt: rows[0].revoked_at, already: rows[0].already };
}

export interface KnownToken {
  name: string;
  scope: Scope;
  expires_at: Date | null;
  revoked: boolean;
  /** Expired by the database's clock when it was looked up. */
  expired: boolean;
}

/** The token whose secret hashes to this (secretHash), or undefined when the hub never issued it. */
export async function findToken(db: Queryable, secretSha256: Buffer): Promise<KnownToken | undefined> {
  const { rows } = await db.query<KnownToken>('SELECT name, scope, expires_at, revoked, expired FROM statehub.authenticate_token($1)', [secretSha256]);
  return rows[0];
}
