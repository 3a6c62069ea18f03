// The bearer scheme of RFC 6750, shared by the API's tokens (src/api/auth.ts) and the pump's
// PUMP_METRICS_TOKEN (src/pump/metrics.ts): reading the header and writing the challenge.

/** The token of `Authorization: Bearer <token>`: undefined when there is no such header or another scheme, '' when it is empty. */
export function bearerOf(header: string | undefined): string | undefined {
  const m = /^Bearer(?:[ ]+(\S*))?[ ]*$/i.exec(header ?? '');
  return m ? (m[1] ?? '') : undefined;
}

/** A WWW-Authenticate value: `Bearer realm="…"`, then e.g. error="invalid_token". Values must not hold quotes. */
export function bearerChallenge(realm: string, params: Record<string, string> = {}): string {
  return [`Bearer realm="${realm}"`, ...Object.entries(params).map(([k, v]) => `${k}="${v}"`)].join(', ');
}
