// An MCP server over the tools of tools.ts: one per stdio process, or one per HTTP request
// (the endpoint is stateless). It is the SDK's low-level Server, not McpServer, because the
// hub answers tool calls in its own words: bad arguments, a write tool called with scope
// read and every operation error come back as an isError result of one sentence naming the
// tool's own arguments. Only protocol problems (an unknown tool) are protocol errors.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool as Listed } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { jsonSchema } from '../json-schema.ts';
import type { Logger } from '../logger.ts';
import { fieldErrors, invalid, toOperationError, type OperationError } from '../operations/errors.ts';
import type { Settings } from '../operations/operation.ts';
import { VERSION } from '../version.ts';
import { tools, type Tool } from './tools.ts';

export interface McpOptions {
  /** Whether the write tools are offered; without, they are not listed and calling one is refused. */
  canWrite: boolean;
  log: Logger;
  settings: Settings;
}

const INSTRUCTIONS =
  'state-hub is the read model of work across domains, repos, workstreams, tasks and decisions. ' +
  'Start with get_next_steps or list_domains.';

// Built once: a stateless endpoint makes a server per request.
const listed = new Map<string, Listed>(
  tools.map((tool) => [
    tool.name,
    {
      name: tool.name,
      title: tool.title,
      description: tool.description,
      // draft-07, as the SDK's McpServer lists tools.
      inputSchema: jsonSchema(tool.input, 'input', 'draft-7') as Listed['inputSchema'],
      outputSchema: jsonSchema(tool.op.output, 'output', 'draft-7') as Listed['outputSchema'],
      annotations: tool.op.writes
        ? { readOnlyHint: false, destructiveHint: false, openWorldHint: false }
        : { readOnlyHint: true, openWorldHint: false },
    },
  ]),
);
const byName = new Map(tools.map((tool) => [tool.name, tool]));

/**
 * The sentence a model gets for an error: what was wrong and, per argument, what is allowed.
 * Operation fields the tool names otherwise are called by the tool's names.
 */
function sentence(err: OperationError, tool: Tool): string {
  const name = (field: string) => tool.argumentOf[field] ?? field;
  const message = err.message.replace(/^\w+(?= )/, name);
  // A field the message already names ("task_id 9 does not exist") is not repeated.
  const fields = (err.fields ?? []).filter((f) => !err.message.startsWith(`${f.field} `));
  return fields.length ? `${message}: ${fields.map((f) => `${name(f.field)}: ${f.message}`).join('; ')}` : message;
}

const callParams = z.object({
  name: z.string(),
  arguments: z.record(z.string(), z.unknown()).optional(),
});

/**
 * The shape of a tools/call request, checked before the SDK checks it: the SDK would answer bad
 * params with -32603 and a dump of zod issues; this answers -32602 with one sentence.
 */
const callToolRequest = z
  .object({
    method: z.literal('tools/call'),
    params: z.unknown().transform((params) => {
      if (typeof params !== 'object' || params === null || Array.isArray(params)) {
        throw new McpError(ErrorCode.InvalidParams, 'tools/call needs params: {"name": "<tool>", "arguments": {…}}');
      }
      const checked = callParams.safeParse(params);
      if (!checked.success) {
        const bad = checked.error.issues[0]!.path[0] === 'name' ? 'params.name must be the name of a tool (a string); tools/list names them' : 'params.arguments must be an object of the tool\'s arguments';
        throw new McpError(ErrorCode.InvalidParams, bad);
      }
      return params as z.infer<typeof callParams> & Record<string, unknown>;
    }),
  })
  .loose();

const failure = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });

async function run(tool: Tool, args: unknown, db: Db, { log, settings }: McpOptions): Promise<CallToolResult> {
  const parsed = tool.input.safeParse(args ?? {});
  if (!parsed.success) return failure(sentence(invalid('the arguments are not valid', fieldErrors(parsed.error, '(arguments)', 'unknown argument')), tool));
  try {
    // What the HTTP API would send: Dates become ISO strings, as the output schema says.
    const result = JSON.parse(JSON.stringify(await tool.op.run(tool.toOp(parsed.data), db, settings))) as Record<string, unknown>;
    return { structuredContent: result, content: [{ type: 'text', text: JSON.stringify(result) }] };
  } catch (err) {
    const known = toOperationError(err);
    if (known) return failure(sentence(known, tool));
    log.error('tool failed', { tool: tool.name, error: (err as Error).message, stack: (err as Error).stack });
    return failure('an unexpected error occurred');
  }
}

/** Runs a call and logs one line about it: the tool, how long, and whether it failed (never the arguments). */
async function call(tool: Tool, args: unknown, db: Db, options: McpOptions): Promise<CallToolResult> {
  const { log } = options;
  const started = performance.now();
  const result = await run(tool, args, db, options);
  log.info('tool call', { tool: tool.name, ms: Math.round((performance.now() - started) * 10) / 10, ...(result.isError ? { failed: true } : {}) });
  return result;
}

export function createMcpServer(db: Db, options: McpOptions): Server {
  const { canWrite } = options;
  const server = new Server({ name: 'state-hub', version: VERSION }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  const offered = tools.filter((tool) => canWrite || !tool.op.writes).map((tool) => listed.get(tool.name)!);
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: offered }));
  server.setRequestHandler(callToolRequest, async ({ params }) => {
    const tool = byName.get(params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `no tool is named ${params.name}; tools/list names them`);
    if (tool.op.writes && !canWrite) return failure(`${tool.name} changes the hub: it needs a token with scope write, and this one has scope read`);
    return call(tool, params.arguments, db, options);
  });
  return server;
}
