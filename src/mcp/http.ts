// POST /mcp: the MCP Streamable HTTP transport, stateless and answering in JSON. Each request
// gets its own server and transport, so no session state lives in the API process; the
// caller's token decides which tools that server offers.
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode, JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Db } from '../db.ts';
import { createMcpServer, type McpOptions } from './server.ts';

/** A JSON-RPC error answer to a request that never became a message (its id is unknown: null). */
const rpcError = (res: Response, code: ErrorCode, message: string) => {
  res.status(400).json({ jsonrpc: '2.0', id: null, error: { code, message } });
};

const isJson = (text: unknown): boolean => {
  if (typeof text !== 'string') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

const NOT_A_MESSAGE = 'the body is not a JSON-RPC 2.0 message: {"jsonrpc": "2.0", "id": 1, "method": "…", "params": {…}}';

/**
 * A body the API's JSON parser refused, answered in JSON-RPC as an MCP client expects rather
 * than as problem+json: -32700 when it is not JSON, -32600 when it is JSON but no message
 * (null, 42, "x": the parser takes only objects and arrays). Other errors go on.
 */
export const mcpBodyErrors: ErrorRequestHandler = (err, _req, res, next) => {
  const { type, body } = err as { type?: string; body?: unknown };
  if (type !== 'entity.parse.failed') return next(err);
  if (isJson(body)) rpcError(res, ErrorCode.InvalidRequest, NOT_A_MESSAGE);
  else rpcError(res, ErrorCode.ParseError, 'the body is not valid JSON');
};

export function mcpHandler(db: Db, options: Omit<McpOptions, 'canWrite'>, canWrite: (res: Response) => boolean) {
  return async (req: Request, res: Response): Promise<void> => {
    // One message per request: a batch (which MCP no longer has) could carry thousands of calls.
    if (Array.isArray(req.body)) {
      rpcError(res, ErrorCode.InvalidRequest, 'send one JSON-RPC message per request; batches are not accepted');
      return;
    }
    // The transport would call any other shape a parse error (-32700), though it is valid JSON.
    if (!JSONRPCMessageSchema.safeParse(req.body).success) {
      rpcError(res, ErrorCode.InvalidRequest, NOT_A_MESSAGE);
      return;
    }
    const server = createMcpServer(db, { ...options, canWrite: canWrite(res) });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  };
}
