// The OpenAPI 3.1 document of the declared routes (route.ts): parameters, bodies and answers
// come from the same zod schemas that validate them.
import { z } from 'zod';
import { jsonSchema } from '../json-schema.ts';
import { idText } from '../operations/fields.ts';
import type { Access } from './auth.ts';
import type { RouteSpec } from './route.ts';

const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

/**
 * A parameter's schema as the text it is: of an input that also takes a JSON number or null
 * (an id or a slug, a cursor), only the string form can arrive in a path or query.
 */
function asText(schema: Record<string, unknown>): Record<string, unknown> {
  const { anyOf, ...rest } = schema as { anyOf?: Array<Record<string, unknown>> };
  const strings = anyOf?.filter((s) => s.type === 'string') ?? [];
  return strings.length === 1 ? { ...rest, ...strings[0] } : schema;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query', aliases: Record<string, string> = {}) {
  if (!(schema instanceof z.ZodObject)) return [];
  const shape = schema.shape as Record<string, z.ZodType>;
  const params = Object.entries(shape).map(([name, field]) => ({
    name,
    in: where,
    required: where === 'path' || !field.safeParse(undefined).success,
    schema: asText(jsonSchema(field, 'input')),
  }));
  const deprecated = Object.entries(aliases).map(([alias, name]) => ({
    name: alias,
    in: where,
    required: false,
    deprecated: true,
    description: `older name of ${name}; takes an id only`,
    schema: jsonSchema(idText, 'input'),
  }));
  return [...params, ...deprecated];
}

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

// The token a route needs, as OpenAPI says it: scopes of a bearer scheme are role names (3.1).
function security(access: Access) {
  if (access === 'public') return { security: [] };
  return {
    security: [{ bearerToken: [access] }],
    // The responses of a missing or insufficient token.
    auth: {
      401: problemResponse('No valid bearer token (missing, malformed, unknown, revoked or expired)'),
      ...(access === 'write' ? { 403: problemResponse('The token has scope read; this needs write') } : {}),
    },
  };
}

/** The OpenAPI 3.1 document of the declared routes. */
export function openApiDocument(specs: RouteSpec[], info: { title: string; version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const path = spec.path.replace(/:(\w+)/g, '{$1}');
    const status = String(spec.status ?? 200);
    const { security: required, auth } = security(spec.access);
    (paths[path] ??= {})[spec.method] = {
      summary: spec.summary,
      tags: [spec.tag],
      security: required,
      parameters: [...parameters(spec.params, 'path'), ...parameters(spec.query, 'query', spec.queryAliases)],
      ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } } } } : {}),
      responses: {
        [status]: {
          description: status === '201' ? 'Created' : 'OK',
          content: { 'application/json': spec.output ? { schema: jsonSchema(spec.output, 'output') } : {} },
        },
        ...auth,
        default: problemResponse('Error'),
      },
    };
  }
  const bearerToken = {
    type: 'http',
    scheme: 'bearer',
    description:
      'A token from `statehub token create`, scope read or write; a write token may call the read operations too. Needed unless the hub runs with API_AUTH=none.',
  };
  return { openapi: '3.1.0', info, paths, components: { schemas: { Problem: problemSchema }, securitySchemes: { bearerToken } } };
}
