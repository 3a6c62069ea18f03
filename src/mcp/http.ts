// POST /mcp: the MCP Streamable HTTP transport, stateless and answering in JSON. Each request
// gets its own server and transport, so no session state lives in the API process; the
// caller's token decides which tools that server offers.
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import type { Request, Response } from 'express';
import type { Db } from '../db.ts';
import { createMcpServer, type McpOptions } from './server.ts';

export function mcpHandler(db: Db, options: Omit<McpOptions, 'canWrite'>, canWrite: (res: Response) => boolean) {
  return async (req: Request, res: Response): Promise<void> => {
    // One message per request: a batch (which MCP no longer has) could carry thousands of calls.
    if (Array.isArray(req.body)) {
      res.status(400).json({ jsonrpc: '2.0', id: null, error: { code: ErrorCode.InvalidRequest, message: 'send one JSON-RPC message per request; batches are not accepted' } });
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
