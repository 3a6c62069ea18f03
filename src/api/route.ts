// Routes are declarations: a method and path, who may call it, and the operation it runs
// (src/operations). Path and query text are read into the operation's own input schema, the
// body is checked against it, and the same declarations produce /openapi.json (openapi.ts),
// so the documented contract is the enforced one.
import { Router, type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { fieldErrors } from '../operations/errors.ts';
import { digitsText, idText } from '../operations/fields.ts';
import type { Operation, Settings } from '../operations/operation.ts';
import type { Access, Authenticator } from './auth.ts';
import { jsonBody, requireJsonContent } from './body.ts';
import { HttpError } from './errors.ts';

type Method = 'get' | 'post' | 'patch';

export interface RouteSpec {
  method: Method;
  /** Express path, e.g. '/domains/:slug'. */
  path: string;
  summary: string;
  tag: string;
  /**
   * Who may call it with API_AUTH=token: public (probes only), a read token, or a write token.
   * Only GET routes may be public or read; a route that changes anything needs write.
   */
  access: Access;
  /**
   * Only for a route whose handler keeps a caller with scope read from changing anything
   * itself (the MCP endpoint offers such a caller read tools only): lets a non-GET route
   * declare access read.
   */
  decidesWrites?: true;
  params?: z.ZodType;
  query?: z.ZodType;
  /**
   * Older names of reference filters, which took an id only (topic_id → topic). They still
   * work, still take an id only, and are documented as deprecated.
   */
  queryAliases?: Record<string, string>;
  /**
   * Query parameters the route no longer takes, each with what to send instead: a request that
   * still sends one gets that advice in its 400, not a bare "unknown query parameter".
   */
  removedQuery?: Record<string, string>;
  body?: z.ZodType;
  /** What a success returns, for the OpenAPI document. */
  output?: z.ZodType;
  /** Status of a success (default 200). */
  status?: number;
  /** Ignore the query string (probes add cache-busting parameters); the route declares none. */
  anyQuery?: true;
}

/** A route that runs an operation: its summary and schemas come from the operation. */
export interface OperationRoute extends Omit<RouteSpec, 'summary' | 'params' | 'query' | 'body' | 'output' | 'decidesWrites'> {
  op: Operation;
  /**
   * The input field the body fills (an update's `changes`). Without it, the body holds every
   * input field the path does not, on a route that is not a GET.
   */
  bodyField?: string;
}

export interface Input {
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
}

export type Handler = (input: Input, db: Db) => Promise<unknown>;

const empty = z.object({});

/** Unknown path and query parameters are refused, as unknown body fields are. */
function strict(schema: z.ZodType | undefined): z.ZodType {
  if (!schema) return z.strictObject({});
  return schema instanceof z.ZodObject ? schema.strict() : schema;
}

/** A path or query parameter arrives as text: a number field reads it as digits, others as it is. */
function textual(field: z.ZodType): z.ZodType {
  let inner: z.ZodType = field;
  while (inner instanceof z.ZodOptional || inner instanceof z.ZodDefault) inner = inner.unwrap() as z.ZodType;
  if (!(inner instanceof z.ZodNumber)) return field;
  const digits: z.ZodType = field.safeParse(undefined).success ? digitsText.optional() : digitsText;
  return digits.pipe(field);
}

const pick = (shape: z.ZodRawShape, keys: string[], as: (f: z.ZodType) => z.ZodType = (f) => f) =>
  z.strictObject(Object.fromEntries(keys.map((k) => [k, as(shape[k] as z.ZodType)])));

/** Renames deprecated query parameters; giving both names of one parameter is refused. */
function resolveAliases(query: Record<string, unknown>, aliases: Record<string, string> | undefined): Record<string, unknown> {
  if (!aliases) return query;
  const out = { ...query };
  for (const [alias, name] of Object.entries(aliases)) {
    if (!(alias in out)) continue;
    if (name in out) {
      throw new HttpError(400, 'Bad Request', `give ${name} or its older name ${alias}, not both`, [{ field: alias, message: `same as ${name}` }]);
    }
    if (!idText.safeParse(out[alias]).success) {
      throw new HttpError(400, 'Bad Request', 'the request has invalid query parameters', [{ field: alias, message: 'expected an id in plain decimal digits' }]);
    }
    out[name] = out[alias];
    delete out[alias];
  }
  return out;
}

function refuseRemoved(query: Record<string, unknown>, removed: Record<string, string> | undefined): void {
  for (const [name, instead] of Object.entries(removed ?? {})) {
    if (name in query) throw new HttpError(400, 'Bad Request', `${name} is no longer accepted: ${instead}`, [{ field: name, message: instead }]);
  }
}

/** Validates one part of the request; query and path problems name the parameter. */
function parse<T>(schema: z.ZodType, value: unknown, where: 'path' | 'query' | 'body'): T {
  if (where === 'body') return schema.parse(value) as T;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data as T;
  const errors = fieldErrors(parsed.error, `(${where})`, `unknown ${where} parameter`);
  throw new HttpError(400, 'Bad Request', `the request has invalid ${where} parameters`, errors);
}

export class Api {
  readonly router = Router();
  readonly specs: RouteSpec[] = [];

  constructor(
    private readonly db: Db,
    private readonly auth: Authenticator,
    private readonly settings: Settings,
  ) {}

  /** A route whose handler is its own (probes, the OpenAPI document). */
  add(spec: RouteSpec, handler: Handler): void {
    if (spec.decidesWrites) throw new Error(`${spec.path}: only a mounted handler can decide writes itself`);
    const params = strict(spec.params);
    const query = spec.anyQuery ? empty : strict(spec.query);
    this.mount(spec, async (req: Request, res: Response) => {
      refuseRemoved(req.query as Record<string, unknown>, spec.removedQuery);
      const input: Input = {
        params: parse(params, req.params, 'path'),
        query: parse(query, resolveAliases(req.query as Record<string, unknown>, spec.queryAliases), 'query'),
        body: spec.body ? parse(spec.body, req.body ?? {}, 'body') : {},
      };
      const result = await handler(input, this.db);
      res.status(spec.status ?? 200).json(result);
    });
  }

  /**
   * A route that answers by itself after `spec.access` is checked and the body is read as
   * JSON. Its handlers authorize anything finer themselves (the MCP endpoint's write tools).
   */
  mount(spec: RouteSpec, ...handlers: Array<RequestHandler | ErrorRequestHandler>): void {
    if (spec.method !== 'get' && spec.access !== 'write' && !spec.decidesWrites) {
      throw new Error(`${spec.method.toUpperCase()} ${spec.path} changes state: its access must be write`);
    }
    this.specs.push(spec);
    // Authorization first: a caller without the right token learns nothing about its body.
    this.router[spec.method](spec.path, this.auth.require(spec.access), requireJsonContent, jsonBody, ...handlers);
  }

  /**
   * A route running `route.op`: path parameters are the input fields the path names, a GET's
   * query holds the others, any other method's body does (or fills `route.bodyField`).
   */
  operation(route: OperationRoute): void {
    const { op, bodyField, ...spec } = route;
    if (op.writes && route.access !== 'write') throw new Error(`${route.path} runs an operation that writes: its access must be write`);
    const shape = op.input.shape as z.ZodRawShape;
    const inPath = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
    const missing = inPath.filter((k) => !(k in shape));
    if (missing.length) throw new Error(`${route.path}: the operation has no input ${missing.join(', ')}`);
    const rest = Object.keys(shape).filter((k) => !inPath.includes(k));
    const body =
      route.method === 'get' ? undefined
      : bodyField !== undefined ? (shape[bodyField] as z.ZodType)
      : rest.length === Object.keys(shape).length ? op.input
      : rest.length ? pick(shape, rest)
      : undefined;
    this.add(
      {
        ...spec,
        summary: op.summary,
        output: op.output,
        ...(inPath.length ? { params: pick(shape, inPath, textual) } : {}),
        ...(route.method === 'get' && rest.length ? { query: pick(shape, rest, textual) } : {}),
        ...(body ? { body } : {}),
      },
      ({ params, query, body: given }, db) =>
        op.run({ ...params, ...query, ...(bodyField !== undefined ? { [bodyField]: given } : (given as object)) }, db, this.settings),
    );
  }

  /**
   * Answers 405 with Allow for a method no route of a known path takes (OPTIONS: 204 with
   * Allow). Call once, after every add(): Express matches routes in the order they were added.
   */
  refuseOtherMethods(): void {
    const allowed = new Map<string, { methods: Set<string>; access: Access }>();
    for (const s of this.specs) {
      const path = allowed.get(s.path) ?? { methods: new Set<string>(), access: s.access };
      path.methods.add(s.method.toUpperCase());
      if (s.method === 'get') path.methods.add('HEAD');
      // Telling which methods a path takes needs what its most open route needs.
      if (s.access === 'public' || (s.access === 'read' && path.access === 'write')) path.access = s.access;
      allowed.set(s.path, path);
    }
    for (const [path, { methods, access }] of allowed) {
      const allow = [...methods, 'OPTIONS'].join(', ');
      this.router.all(path, this.auth.require(access), (req: Request, res: Response, next: NextFunction) => {
        res.setHeader('Allow', allow);
        if (req.method === 'OPTIONS') {
          res.status(204).end();
          return;
        }
        next(new HttpError(405, 'Method Not Allowed', `${req.method} is not allowed on ${path}; allowed: ${allow}`));
      });
    }
  }
}
