// zod schemas as JSON Schema, for the documents the transports publish: /openapi.json
// (2020-12, as OpenAPI 3.1 has it) and MCP tool lists (draft-07, as the MCP SDK lists them).
import { z } from 'zod';

/** `io` picks the side of a transform: what a caller sends (input) or what comes back (output). */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output', target: 'draft-2020-12' | 'draft-7' = 'draft-2020-12'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, target, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}
