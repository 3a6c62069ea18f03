// Who may reach the API at all: the auth mode a configuration means, and the guards against
// requests a browser sends on a page's behalf (cross-site forms, DNS rebinding). Tokens
// themselves are checked in auth.ts.
import cors from 'cors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Config } from '../config.ts';
import { isLoopbackHost } from '../net.ts';
import type { AuthMode } from './auth.ts';
import { HttpError } from './errors.ts';

export interface AccessSettings {
  auth: AuthMode;
  /** Origins (as browsers send them) whose pages may call the API. */
  allowedOrigins: string[];
  /** Host names served with auth none besides loopback ones. */
  allowedHosts: string[];
  /** How long a token lookup is reused (auth.ts TOKEN_CACHE_MS by default). */
  tokenCacheMs?: number;
}

/** Unset API_AUTH means none on a loopback HOST and token on any other. */
function defaultAuth(host: string): AuthMode {
  return isLoopbackHost(host) ? 'none' : 'token';
}

/** What a host means with nothing else configured: API_AUTH unset, no origins, no extra hosts. */
export function defaultAccess(host: string): AccessSettings {
  return { auth: defaultAuth(host), allowedOrigins: [], allowedHosts: [] };
}

export function accessSettings(config: Config): AccessSettings {
  return {
    auth: config.API_AUTH ?? defaultAuth(config.HOST),
    allowedOrigins: config.API_ALLOWED_ORIGINS,
    allowedHosts: config.API_ALLOWED_HOSTS,
  };
}

/** The host[:port] of an absolute-form request target, or undefined for the usual /path form. */
function absoluteAuthority(target: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return undefined;
  try {
    return new URL(target).host;
  } catch {
    return '';
  }
}

/** The name part of a Host header: "[::1]:8000" → "::1", "Hub.example:80" → "hub.example". */
function hostName(host: string | undefined): string | undefined {
  const m = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(host ?? '');
  return m?.[1] ? m[1].toLowerCase().replace(/^\[(.*)\]$/, '$1') : undefined;
}

/**
 * Without tokens, only requests addressed to this machine by name are served: a page whose
 * host name an attacker re-pointed at 127.0.0.1 (DNS rebinding) sends its own name as Host.
 */
export function requireServedHost(allowedHosts: string[]): RequestHandler {
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1')));
  return (req: Request, _res: Response, next: NextFunction) => {
    // An absolute-form target (GET http://name/path) names the host instead of Host (RFC 9112).
    const name = hostName(absoluteAuthority(req.originalUrl) ?? req.get('host'));
    if (name !== undefined && (isLoopbackHost(name) || allowed.has(name))) return next();
    next(
      new HttpError(
        421,
        'Misdirected Request',
        'without tokens (API_AUTH=none) this hub serves only loopback host names and those in API_ALLOWED_HOSTS',
      ),
    );
  };
}

/**
 * Whether Origin names the host and port the request was sent to (its Host), as a page of the
 * hub itself would. The scheme is not compared: behind a TLS proxy the hub cannot know its own.
 * The port is read with the origin's scheme, so https://hub and Host hub:443 agree.
 */
function isSameOrigin(origin: string, host: string | undefined): boolean {
  try {
    const o = new URL(origin);
    return host !== undefined && o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false;
  }
}

/**
 * A request that a browser sent from another site's page (it says so in Origin) is refused,
 * whatever its method, unless that origin is in API_ALLOWED_ORIGINS; those get CORS headers,
 * so their pages can send tokens and JSON. Clients that are not browsers send no Origin.
 */
export function requireAllowedOrigin(allowedOrigins: string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  const corsHeaders = cors({
    origin: true,
    methods: ['GET', 'HEAD', 'POST', 'PATCH'],
    // mcp-protocol-version: what an MCP client sends on every request after initialize.
    allowedHeaders: ['authorization', 'content-type', 'x-request-id', 'mcp-protocol-version'],
    exposedHeaders: ['x-request-id', 'www-authenticate', 'retry-after'],
    maxAge: 600,
  });
  return (req: Request, res: Response, next: NextFunction) => {
    // Answers differ by Origin once some origins get CORS headers; caches must keep them apart.
    if (allowed.size > 0) res.vary('Origin');
    const origin = req.get('origin');
    if (origin === undefined || isSameOrigin(origin, req.get('host'))) return next();
    if (allowed.has(origin)) return corsHeaders(req, res, next);
    next(new HttpError(403, 'Forbidden', `requests from pages of ${origin.slice(0, 200)} are not allowed (API_ALLOWED_ORIGINS)`));
  };
}
