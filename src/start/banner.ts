// What `statehub start` prints once everything runs: where each part listens and how to reach
// it. No password: psql reads the embedded database's from its password file.
import path from 'node:path';
import { NATS_INSTALL_HINT } from './private-nats.ts';
import { redactServers, redactUrl } from '../logger.ts';
import type { AuthMode } from '../api/auth.ts';
import type { BackingServices } from './services.ts';

export function banner(
  api: { url: string; auth: AuthMode },
  services: BackingServices,
  cli = `node ${path.relative(process.cwd(), process.argv[1] ?? 'bin/statehub.js')}`,
): string {
  const { embedded, nats } = services;
  const lines = ['state-hub is running', `  API       ${api.url}  (GET /openapi.json)`, `  MCP       ${api.url}/mcp  (tools for AI agents: docs/mcp.md)`];
  if (api.auth === 'none') {
    lines.push('  auth      none: loopback host names only (API_AUTH=token requires bearer tokens)');
  } else {
    // The embedded database's URL names its password file, so it can be shown and reused.
    const database = embedded ? `DATABASE_URL='${embedded.psqlUrl}' ` : '';
    lines.push('  auth      bearer tokens; make one with', `            ${database}${cli} token create --name me --scope write`);
  }
  if (embedded) {
    lines.push(`  database  psql '${embedded.psqlUrl}'`, `            (embedded PostgreSQL, data in ${embedded.dataDir})`);
  } else {
    lines.push(`  database  ${redactUrl(services.databaseUrl)}`);
  }
  if (nats.kind === 'private') {
    lines.push(`  NATS      ${nats.url}  (private nats-server, store in ${nats.storeDir})`, `            events: NATS_URL=${nats.url} ${cli} events tail`);
  } else if (nats.kind === 'configured') {
    lines.push(`  NATS      ${redactServers(nats.url)}`);
  } else {
    lines.push(`  NATS      none: events wait in the outbox (to publish them: ${NATS_INSTALL_HINT}, or set NATS_URL)`);
  }
  lines.push('Ctrl-C stops everything.');
  return `${lines.join('\n')}\n`;
}
