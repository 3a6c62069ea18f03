// The one place that checks bearer tokens. Every route declares its access (route.ts): public,
// read or write; `require(access)` is the middleware that enforces it. With API_AUTH=none every
// route is open (access.ts keeps such a hub to loopback Host names).
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { bearerChallenge, bearerOf } from '../bearer.ts';
import type { Db } from '../db.ts';
import { findToken, looksLikeSecret, secretHash, stateOf, type KnownToken, type Scope } from '../tokens.ts';
import { HttpError } from './errors.ts';
import { TokenLookups } from './token-lookups.ts';

/** What a route needs: nothing (probes), a read token, or a write token. */
export type Access = 'public' | Scope;

export type AuthMode = 'token' | 'none';

/**
 * How long a token lookup's answer is reused. A revocation reaches a running API within this
 * time; expiry is checked on every request. docs/api.md and README quote it.
 */
export const TOKEN_CACHE_MS = 5_000;

const REALM = 'state-hub';

function unauthorized(detail: string, invalidToken: boolean): HttpError {
  const challenge = invalidToken ? bearerChallenge(REALM, { error: 'invalid_token', error_description: detail }) : bearerChallenge(REALM);
  return new HttpError(401, 'Unauthorized', detail, undefined, { 'WWW-Authenticate': challenge });
}

export class Authenticator {
  private readonly lookups: TokenLookups;

  constructor(
    db: Db,
    readonly mode: AuthMode,
    cacheMs = TOKEN_CACHE_MS,
  ) {
    this.lookups = new TokenLookups((hash) => findToken(db, hash), cacheMs);
  }

  /**
   * Middleware letting a request on when it may have `access`. The name of the token sent
   * becomes res.locals.actor (for the request log), also when that token is revoked or expired:
   * a client still using one should be easy to find. A request let on has its scope in
   * res.locals.scope: the token's, or write when the hub runs without tokens.
   */
  require(access: Access): RequestHandler {
    if (this.mode === 'none') {
      return (_req, res, next) => {
        res.locals.scope = 'write';
        next();
      };
    }
    if (access === 'public') return (_req, _res, next) => next();
    return async (req: Request, res: Response, next: NextFunction) => {
      const token = await this.authenticate(req.get('authorization'), res);
      res.locals.scope = token.scope;
      if (access === 'write' && token.scope !== 'write') {
        throw new HttpError(403, 'Forbidden', `this request needs a token with scope write; token ${token.name} has scope ${token.scope}`, undefined, {
          'WWW-Authenticate': bearerChallenge(REALM, { error: 'insufficient_scope', scope: 'write' }),
        });
      }
      next();
    };
  }

  private async authenticate(header: string | undefined, res: Response): Promise<KnownToken> {
    const secret = bearerOf(header);
    if (secret === undefined) throw unauthorized('send Authorization: Bearer <token> (statehub token create makes one)', false);
    if (!looksLikeSecret(secret)) throw unauthorized('the bearer token is malformed', true);
    // Found by the hash of the secret: the database compares hashes, never secrets, so the
    // time an answer takes says nothing about the secret.
    const token = await this.lookups.get(secretHash(secret));
    if (!token) throw unauthorized('the token is unknown', true);
    res.locals.actor = token.name;
    const state = stateOf(token);
    if (state === 'revoked') throw unauthorized('the token was revoked', true);
    if (state === 'expired') throw unauthorized('the token expired', true);
    return token;
  }
}
