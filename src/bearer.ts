// The bearer scheme of RFC 6750, shared by the API's tokens (src/api/auth.ts) and the pump's
// PUMP_METRICS_TOKEN (src/pump/metrics.ts): reading the header and writing the challenge.

/**
 * The token of `Authorization: Bearer <token>`: undefined when there is no such header or another
 * scheme, else what follows the scheme without the spaces around it ('' when nothing does). What
 * is not one token (`Bearer a b`, a tab before it) comes back whole, to be refused as malformed:
 * the caller meant a bearer token, and hears that it was not a valid one.
 */
export function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined || !/^Bearer(?=[ \t]|$)/i.test(header)) return undefined;
  let start = 'Bearer'.length;
  let end = header.length;
  while (start < end && header[start] === ' ') start++;
  while (end > start && header[end - 1] === ' ') end--;
  return header.slice(start, end);
}

/** A WWW-Authenticate value: `Bearer realm="…"`, then e.g. error="invalid_token". Values must not hold quotes. */
export function bearerChallenge(realm: string, params: Record<string, string> = {}): string {
  return [`Bearer realm="${realm}"`, ...Object.entries(params).map(([k, v]) => `${k}="${v}"`)].join(', ');
}
