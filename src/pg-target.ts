// libpq's multi-host connection URLs, which node-postgres does not implement:
//   postgres://user@db1:5432,db2:5432/statehub?target_session_attrs=read-write
// The hosts are tried in order and the first whose session is of the kind asked for is used, as
// libpq does (load_balance_hosts=disable). A Patroni or repmgr failover then needs no change of
// configuration: a new connection finds the promoted standby. What was found is remembered per
// process, so only the first connection after a failover looks again; every connection checks
// what it reached, so a server demoted since is noticed.
import pg from 'pg';

export type SessionAttrs = 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby';
const ATTRS: readonly SessionAttrs[] = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'];

export interface PgServer {
  host: string;
  port: number;
}

/** How long one server may take to accept a probe's connection before the next is tried. */
const PROBE_CONNECT_MS = 5000;

/** A DATABASE_URL split into its servers and the kind of session wanted. Throws an Error saying what is wrong. */
export function parseDatabaseUrl(url: string): { servers: PgServer[]; attrs: SessionAttrs; urlFor(server: PgServer): string } {
  const m = /^(postgres(?:ql)?:)\/\/(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(\?[^#]*)?$/i.exec(url);
  if (!m) throw new Error('expected a postgres:// or postgresql:// URL');
  const [, scheme, userinfo, hostList, path, query] = m;
  const servers = hostList!.split(',').map((item) => {
    const h = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(item.trim());
    if (!h) throw new Error(`"${item}" is not a host[:port]`);
    const port = h[2] === undefined ? 5432 : Number(h[2]);
    if (port < 1 || port > 65535) throw new Error(`port ${h[2]} is out of range`);
    return { host: h[1]!.replace(/^\[|\]$/g, ''), port };
  });
  const params = new URLSearchParams(query ?? '');
  const attrs = (params.get('target_session_attrs') ?? 'any') as SessionAttrs;
  if (!ATTRS.includes(attrs)) throw new Error(`target_session_attrs must be one of ${ATTRS.join(', ')}`);
  params.delete('target_session_attrs');
  if (servers.length > 1 && params.has('passfile')) throw new Error('passfile= is read for one host only: give the password in the URL or PGPASSWORD');
  const rest = `${path}${params.size > 0 ? `?${params}` : ''}`;
  const authority = userinfo === undefined ? '' : `${userinfo}@`;
  return {
    servers,
    attrs,
    urlFor: (s) => `${scheme}//${authority}${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}${rest}`,
  };
}

interface SessionState {
  recovery: boolean;
  readOnly: boolean;
}

/** Whether a session in `state` is of the kind `attrs` asks for ('prefer-standby' takes any, after a first pass). */
function accepts(attrs: SessionAttrs, s: SessionState): boolean {
  switch (attrs) {
    case 'read-write':
      return !s.readOnly;
    case 'read-only':
      return s.readOnly;
    case 'primary':
      return !s.recovery;
    case 'standby':
    case 'prefer-standby':
      return s.recovery;
    case 'any':
      return true;
  }
}

async function stateOf(client: pg.Client): Promise<SessionState> {
  const { rows } = await client.query<SessionState>(
    "SELECT pg_catalog.pg_is_in_recovery() AS recovery, pg_catalog.current_setting('transaction_read_only') = 'on' AS \"readOnly\"",
  );
  return rows[0]!;
}

/** The servers of one DATABASE_URL, and the one that was last found to take the sessions it asks for. */
export class PgTarget {
  private static readonly known = new Map<string, PgTarget>();
  private current: PgServer | undefined;
  private found = 0;
  private last: PgServer | undefined;
  private looking: Promise<PgServer> | undefined;
  private readonly parsed: ReturnType<typeof parseDatabaseUrl>;

  /** One per URL in a process: the pool, the leader's session and the listener share what was found. */
  static of(url: string): PgTarget {
    let t = PgTarget.known.get(url);
    if (!t) PgTarget.known.set(url, (t = new PgTarget(url)));
    return t;
  }

  private constructor(private readonly url: string) {
    this.parsed = parseDatabaseUrl(url);
  }

  /** One server and no kind of session asked for: a plain connection does, as before. */
  get plain(): boolean {
    return this.parsed.servers.length === 1 && this.parsed.attrs === 'any';
  }

  get servers(): readonly PgServer[] {
    return this.parsed.servers;
  }

  /** The URL of one server, without target_session_attrs (node-postgres takes one host). */
  urlFor(server: PgServer): string {
    return this.parsed.urlFor(server);
  }

  /** Grows each time a look finds a server other than the last one found: connections now go elsewhere. */
  get changes(): number {
    return this.found;
  }

  /** The server to connect to: the one found last, or the first, in order, that takes the sessions asked for. */
  find(): Promise<PgServer> {
    if (this.current) return Promise.resolve(this.current);
    this.looking ??= this.look().finally(() => (this.looking = undefined));
    return this.looking;
  }

  /** A connection to `server` failed or reached the wrong kind of session: look again next time. */
  forget(server: PgServer): void {
    if (this.current?.host === server.host && this.current.port === server.port) this.current = undefined;
  }

  /** Whether a connected client's session is of the kind asked for. */
  async check(client: pg.Client): Promise<boolean> {
    return this.parsed.attrs === 'any' || this.parsed.attrs === 'prefer-standby' || accepts(this.parsed.attrs, await stateOf(client));
  }

  private async look(): Promise<PgServer> {
    const previous = this.last;
    const server = await this.lookOnce();
    if (previous && (previous.host !== server.host || previous.port !== server.port)) this.found++;
    this.last = server;
    return server;
  }

  private async lookOnce(): Promise<PgServer> {
    const { servers, attrs } = this.parsed;
    const problems: string[] = [];
    let fallback: PgServer | undefined;
    for (const server of servers) {
      const probe = new pg.Client({ connectionString: this.urlFor(server), connectionTimeoutMillis: PROBE_CONNECT_MS, application_name: 'statehub-probe' });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        const state = await stateOf(probe);
        if (accepts(attrs, state)) return (this.current = server);
        fallback ??= server;
        problems.push(`${server.host}:${server.port} is ${state.recovery ? 'a standby (in recovery)' : 'read-only'}`);
      } catch (err) {
        problems.push(`${server.host}:${server.port}: ${(err as Error).message}`);
      } finally {
        await probe.end().catch(() => undefined);
      }
    }
    if (attrs === 'prefer-standby' && fallback) return (this.current = fallback);
    throw new Error(`no server of DATABASE_URL takes ${attrs} sessions: ${problems.join('; ')}`);
  }

  /**
   * A pg.Client that connects to find()'s server and checks what it reached; for pg.Pool's
   * `Client` option and the pump's own sessions. A connection that fails makes the next look again.
   */
  readonly Client: typeof pg.Client = (() => {
    const target = this;
    class TargetClient extends pg.Client {
      override connect(): Promise<pg.Client>;
      override connect(callback: (err: Error) => void): void;
      override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
        const connected = (async () => {
          const server = await target.find();
          this.host = server.host;
          this.port = server.port;
          try {
            await super.connect();
            if (await target.check(this)) return this;
          } catch (err) {
            target.forget(server);
            throw err;
          }
          target.forget(server);
          await this.end().catch(() => undefined);
          throw new Error(`${server.host}:${server.port} no longer takes ${target.parsed.attrs} sessions (a failover?): looking again`);
        })();
        if (!callback) return connected;
        connected.then(() => callback(undefined as unknown as Error), callback);
      }
    }
    return TargetClient;
  })();

  /** Settings for a pg.Client or pg.Pool on this URL: the URL itself for one server, TargetClient otherwise. */
  clientConfig(): { connectionString: string; Client?: typeof pg.Client } {
    return this.plain ? { connectionString: this.url } : { connectionString: this.urlFor(this.parsed.servers[0]!), Client: this.Client };
  }

  /** A single-server URL to connect to now, for clients that make their own connections (pg-listen). */
  async urlNow(): Promise<{ url: string; server?: PgServer }> {
    if (this.plain) return { url: this.url };
    const server = await this.find();
    return { url: this.urlFor(server), server };
  }
}
