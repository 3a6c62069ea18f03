// statehub mcp: the MCP tools on stdio, for a client that runs the hub as a command. Every log
// line goes to stderr: stdout carries only protocol messages.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { MAX_BODY_BYTES } from '../../api/body.ts';
import { loadConfig, requireDatabaseUrl } from '../../config.ts';
import { createDb } from '../../db.ts';
import { createLogger } from '../../logger.ts';
import { createMcpServer } from '../../mcp/server.ts';
import type { Logger } from '../../logger.ts';
import { handleSignals } from '../../shutdown.ts';
import { settingsOf } from '../../operations/operation.ts';

/** A line that is not JSON, or JSON but no JSON-RPC message: the transport drops it and goes on. */
const isUnreadableLine = (err: Error) => err instanceof SyntaxError || err.name === 'ZodError';

/** Logs dropped lines at debug, at most once a second, with how many were dropped meanwhile. */
function droppedLines(log: Logger): (err: Error) => void {
  let since = 0;
  let last = 0;
  return (err) => {
    since++;
    if (Date.now() - last < 1000) return;
    log.debug('ignored lines on stdin that are not JSON-RPC messages', { lines: since, last: err instanceof SyntaxError ? 'not JSON' : 'not a JSON-RPC message' });
    since = 0;
    last = Date.now();
  };
}

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
  // The transport closes itself on a line longer than MAX_BODY_BYTES: that ends the session,
  // said on stderr, with the pool closed and a non-zero exit (not a silent exit 13).
  const dropped = droppedLines(log);
  server.onerror = (err) => {
    if (isUnreadableLine(err)) return dropped(err);
    log.error('mcp transport failed', { error: err.message });
  };
  server.onclose = () => void shutdown('the stdio transport closed', true);
  await server.connect(new StdioServerTransport(process.stdin, process.stdout, { maxBufferSize: MAX_BODY_BYTES }));
  log.info('mcp serving on stdio');
  return new Promise<number>(() => undefined); // runs until stdin closes or a signal
}
