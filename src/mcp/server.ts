// An MCP server over the operations: one per stdio process, or one per HTTP request (the
// endpoint is stateless). Tool errors come back as isError results with one plain sentence;
// only protocol problems are protocol errors.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { toOperationError, type OperationError } from '../operations/errors.ts';
import { tools, type Tool } from './tools.ts';

export interface McpOptions {
  /** Whether the write tools are offered; without, they are neither listed nor callable. */
  canWrite: boolean;
  log: Logger;
  version?: string;
}

/** The sentence a model gets for an error: what was wrong, and per field what is allowed. */
function sentence(err: OperationError): string {
  const fields = (err.fields ?? []).filter((f) => !err.message.includes(f.field));
  return fields.length ? `${err.message}: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}` : err.message;
}

const failure = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });

async function call(tool: Tool, args: Record<string, unknown>, db: Db, log: Logger): Promise<CallToolResult> {
  try {
    // What the HTTP API would send: Dates become ISO strings, as the output schema says.
    const result = JSON.parse(JSON.stringify(await tool.op.run(tool.toOp(args), db))) as Record<string, unknown>;
    return { structuredContent: result, content: [{ type: 'text', text: JSON.stringify(result) }] };
  } catch (err) {
    const known = toOperationError(err);
    if (known) return failure(sentence(known));
    log.error('tool failed', { tool: tool.name, error: (err as Error).message, stack: (err as Error).stack });
    return failure('an unexpected error occurred');
  }
}

export function createMcpServer(db: Db, { canWrite, log, version = '0.1.0' }: McpOptions): McpServer {
  const server = new McpServer(
    { name: 'state-hub', version },
    { instructions: 'state-hub is the read model of work across domains, repos, workstreams, tasks and decisions. Start with get_next_steps or list_domains.' },
  );
  for (const tool of tools) {
    if (tool.op.writes && !canWrite) continue;
    const annotations = tool.op.writes
      ? { readOnlyHint: false, destructiveHint: false, openWorldHint: false }
      : { readOnlyHint: true, openWorldHint: false };
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: tool.input, outputSchema: tool.op.output, annotations },
      (args: Record<string, unknown>) => call(tool, args, db, log),
    );
  }
  return server;
}
