// The one place that checks bearer tokens. Every route declares its access (route.ts): public,
// read or write; `require(access)` is the middleware that enforces it. With API_AUTH=none every
// route is open (access.ts keeps such a hub to loopback Host names).
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Db } from '../db.ts';
import { findToken, looksLikeSecret, secretHash, stateOf, type KnownToken, type Scope } from '../tokens.ts';
import { HttpError } from './errors.ts';

/** What a route needs: nothing (probes), a read token, or a write token. */
export type Access = 'public' | Scope;

export type AuthMode = 'token' | 'none';

/**
 * How long a known token's lookup is reused. A revocation reaches a running API within this
 * time; expiry is checked on every request. docs/api.md quotes it.
 */
export const TOKEN_CACHE_MS = 5_000;
/** Distinct tokens remembered at once; a client cycling through more only costs lookups. */
const CACHE_ENTRIES = 1_000;

const REALM = 'Bearer realm="state-hub"';

function unauthorized(detail: string, invalidToken: boolean): HttpError {
  const challenge = invalidToken ? `${REALM}, error="invalid_token", error_description="${detail}"` : REALM;
  return new HttpError(401, 'Unauthorized', detail, undefined, { 'WWW-Authenticate': challenge });
}

/** The secret of `Authorization: Bearer <secret>`; undefined when the header is absent or another scheme. */
function bearerOf(header: string | undefined): string | undefined {
  const m = /^Bearer(?:[ ]+(\S*))?[ ]*$/i.exec(header ?? '');
  return m ? (m[1] ?? '') : undefined;
}

export class Authenticator {
  private readonly cache = new Map<string, { at: number; lookup: Promise<KnownToken | undefined> }>();

  constructor(
    private readonly db: Db,
    readonly mode: AuthMode,
    private readonly cacheMs = TOKEN_CACHE_MS,
  ) {}

  /** Middleware letting a request on when it may have `access`; the token's name becomes res.locals.actor. */
  require(access: Access): RequestHandler {
    if (access === 'public' || this.mode === 'none') return (_req, _res, next) => next();
    return async (req: Request, res: Response, next: NextFunction) => {
      const token = await this.authenticate(req.get('authorization'));
      res.locals.actor = token.name;
      if (access === 'write' && token.scope !== 'write') {
        throw new HttpError(403, 'Forbidden', `this request needs a token with scope write; token ${token.name} has scope ${token.scope}`, undefined, {
          'WWW-Authenticate': `${REALM}, error="insufficient_scope", scope="write"`,
        });
      }
      next();
    };
  }

  private async authenticate(header: string | undefined): Promise<KnownToken> {
    const secret = bearerOf(header);
    if (secret === undefined) throw unauthorized('send Authorization: Bearer <token> (statehub token create makes one)', false);
    if (!looksLikeSecret(secret)) throw unauthorized('the bearer token is malformed', true);
    const token = await this.lookup(secret);
    if (!token) throw unauthorized('the token is unknown', true);
    const state = stateOf(token);
    if (state === 'revoked') throw unauthorized('the token was revoked', true);
    if (state === 'expired') throw unauthorized('the token expired', true);
    return token;
  }

  /**
   * Finds the token by the hash of the secret: the database compares hashes, never secrets,
   * so the time an answer takes says nothing about the secret. Concurrent requests with one
   * token share a lookup; unknown tokens are not remembered.
   */
  private lookup(secret: string): Promise<KnownToken | undefined> {
    const hash = secretHash(secret);
    const key = hash.toString('hex');
    const now = performance.now();
    const cached = this.cache.get(key);
    if (cached && now - cached.at < this.cacheMs) return cached.lookup;
    const lookup = findToken(this.db, hash);
    this.cache.delete(key);
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { at: now, lookup });
    const forget = () => {
      if (this.cache.get(key)?.lookup === lookup) this.cache.delete(key);
    };
    lookup.then((found) => found || forget(), forget);
    return lookup;
  }
}
