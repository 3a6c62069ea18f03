// statehub mcp: the MCP tools on stdio, for a client that runs the hub as a command. Every log
// line goes to stderr: stdout carries only protocol messages.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { loadConfig, requireDatabaseUrl } from '../../config.ts';
import { createDb } from '../../db.ts';
import { createLogger } from '../../logger.ts';
import { createMcpServer } from '../../mcp/server.ts';
import { handleSignals } from '../../shutdown.ts';
import { settingsOf } from '../../operations/operation.ts';

export async function run(_options: object, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const log = createLogger(config.LOG_LEVEL, { component: 'mcp' }, { allToStderr: true });
  // One client sends one request at a time as a rule; a few connections are plenty.
  const db = createDb(
    { connectionString: requireDatabaseUrl(config), max: 4, applicationName: 'statehub-mcp', statementTimeoutMs: config.API_STATEMENT_TIMEOUT },
    log,
  );
  // The process runs as the user who started it, with that user's DATABASE_URL: its tools are
  // every tool, and the database role decides what it may change.
  const server = createMcpServer(db, { canWrite: true, log, settings: settingsOf(config) });
  const shutdown = handleSignals(log, 15_000, [
    { name: 'mcp server', run: () => server.close() },
    { name: 'database pool', run: () => db.close() },
  ]);
  // The client ends the session by closing our stdin.
  process.stdin.once('end', () => void shutdown('stdin closed'));
  await server.connect(new StdioServerTransport());
  log.info('mcp serving on stdio');
  return new Promise<number>(() => undefined); // runs until stdin closes or a signal
}
