// Routes are declared once, with the zod schemas that validate them; the same declarations
// produce /openapi.json, so the documented contract is the enforced one.
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Db } from '../db.ts';

type Method = 'get' | 'post' | 'patch';

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** Express path, e.g. '/domains/:slug'. */
  path: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Status of a success (default 200). */
  status?: number;
}

export interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

export type Handler<P, Q, B> = (input: Input<P, Q, B>, db: Db) => Promise<unknown>;

const empty = z.object({});

export class Api {
  readonly router = Router();
  readonly specs: Array<RouteSpec<z.ZodType, z.ZodType, z.ZodType>> = [];

  constructor(private readonly db: Db) {}

  add<P extends z.ZodType = typeof empty, Q extends z.ZodType = typeof empty, B extends z.ZodType = typeof empty>(
    spec: RouteSpec<P, Q, B>,
    handler: Handler<z.infer<P>, z.infer<Q>, z.infer<B>>,
  ): void {
    this.specs.push(spec);
    this.router[spec.method](spec.path, async (req: Request, res: Response) => {
      const input = {
        params: (spec.params ?? empty).parse(req.params),
        query: (spec.query ?? empty).parse(req.query),
        body: spec.body ? spec.body.parse(req.body ?? {}) : {},
      } as Input<z.infer<P>, z.infer<Q>, z.infer<B>>;
      const result = await handler(input, this.db);
      res.status(spec.status ?? 200).json(result);
    });
  }
}

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

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, field]) => ({
    name,
    in: where,
    required: where === 'path' || !field.safeParse(undefined).success,
    schema: jsonSchema(field),
  }));
}

/** The OpenAPI 3.1 document of the declared routes. */
export function openApiDocument(specs: Api['specs'], info: { title: string; version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const path = spec.path.replace(/:(\w+)/g, '{$1}');
    const status = String(spec.status ?? 200);
    (paths[path] ??= {})[spec.method] = {
      summary: spec.summary,
      tags: [spec.tag],
      parameters: [...parameters(spec.params, 'path'), ...parameters(spec.query, 'query')],
      ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(spec.body) } } } } : {}),
      responses: {
        [status]: { description: status === '201' ? 'Created' : 'OK', content: { 'application/json': {} } },
        default: { description: 'Error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
    };
  }
  return { openapi: '3.1.0', info, paths, components: { schemas: { Problem: problemSchema } } };
}
