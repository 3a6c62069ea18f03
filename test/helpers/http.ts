// The API on a free port for tests, and a small JSON client for it.
import type { Db } from '../../src/db.ts';
import { silentLogger } from '../../src/logger.ts';
import { listenApi, type ListenOptions, type RunningApi } from '../../src/api/server.ts';

export interface Reply {
  status: number;
  type: string;
  // Parsed JSON of whatever shape the endpoint returns.
  body: any;
}

export class Client {
  constructor(readonly base: string) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await fetch(this.base + path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : undefined };
  }

  get = (path: string) => this.request('GET', path);
  post = (path: string, body?: unknown) => this.request('POST', path, body);
  patch = (path: string, body: unknown) => this.request('PATCH', path, body);
}

export async function startTestApi(db: Db, options: ListenOptions = {}): Promise<{ api: RunningApi; client: Client }> {
  const api = await listenApi(db, silentLogger(), '127.0.0.1', 0, options);
  return { api, client: new Client(`http://127.0.0.1:${api.port}`) };
}
