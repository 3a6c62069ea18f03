// /healthz, /readyz and /metrics (Prometheus text format 0.0.4) on node:http; no client library.
// With a token, /readyz and /metrics require it as a bearer token; /healthz (liveness) never does.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearerChallenge, bearerOf } from '../bearer.ts';
import type { Logger } from '../logger.ts';
import { isLoopbackHost } from '../net.ts';
import type { BacklogReading } from './backlog-sampler.ts';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class PumpMetrics {
  constructor(
    /** How long the current delta has waited for standbys (PUMP_WAIT_FOR_STANDBYS), in seconds. */
    private readonly standbyWait: () => number = () => 0,
  ) {}

  published = 0;
  duplicates = 0;
  publishErrors = 0;
  /** Events published again because the stream had lost them after acknowledging them (lost-acks.ts). */
  restored = 0;
  leader = false;
  /** A session that is not a pump holds the leader lock. */
  leaderLockForeign = false;
  private readonly bucketCounts = LATENCY_BUCKETS.map(() => 0);
  private latencyCount = 0;
  private latencySum = 0;

  /** One acked event; `seconds` from occurred_at to the PubAck, undefined to leave the histogram out (an event published again). */
  observeAck(seconds: number | undefined, duplicate: boolean): void {
    this.published++;
    if (duplicate) this.duplicates++;
    if (seconds === undefined) return;
    this.latencyCount++;
    this.latencySum += seconds;
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) this.bucketCounts[i]!++;
    });
  }

  countErrors(n: number): void {
    this.publishErrors += n;
  }

  /** The text of a scrape; `reading` is the background sampler's, `now` a Date.now(). */
  render(reading: BacklogReading, now = Date.now()): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: string[]) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
    metric('statehub_outbox_backlog_up', 'gauge', '1 when the last backlog query succeeded, 0 when it failed or has not run yet.', [
      `statehub_outbox_backlog_up ${reading.up ? 1 : 0}`,
    ]);
    if (reading.last) {
      const backlog = reading.last.backlog;
      metric('statehub_outbox_backlog_sample_age_seconds', 'gauge', 'Age of the backlog reading the statehub_outbox_* gauges show.', [
        `statehub_outbox_backlog_sample_age_seconds ${(now - reading.last.at) / 1000}`,
      ]);
      metric('statehub_outbox_backlog', 'gauge', 'Committed events the pump has not passed yet.', [`statehub_outbox_backlog ${backlog.pending}`]);
      metric('statehub_outbox_oldest_unpublished_age_seconds', 'gauge', 'Age of the oldest event the pump has not passed.', [
        `statehub_outbox_oldest_unpublished_age_seconds ${(backlog.oldestAgeMs ?? 0) / 1000}`,
      ]);
      metric('statehub_outbox_failed', 'gauge', 'Parked events that failed; each blocks its ordering key.', [`statehub_outbox_failed ${backlog.failed}`]);
      metric('statehub_outbox_waiting', 'gauge', 'Parked events waiting behind a failed event of their key, or requeued.', [
        `statehub_outbox_waiting ${backlog.waiting}`,
      ]);
      metric('statehub_outbox_blocked_keys', 'gauge', 'Ordering keys blocked by a failed event.', [`statehub_outbox_blocked_keys ${backlog.blockedKeys}`]);
      metric('statehub_outbox_oldest_blocked_age_seconds', 'gauge', 'How long the longest-blocked key has been blocked; 0 when none.', [
        `statehub_outbox_oldest_blocked_age_seconds ${(backlog.oldestBlockedAgeMs ?? 0) / 1000}`,
      ]);
    }
    metric('statehub_pump_published_total', 'counter', 'Events acknowledged by JetStream (duplicates included).', [
      `statehub_pump_published_total ${this.published}`,
    ]);
    metric('statehub_pump_duplicates_total', 'counter', 'PubAcks flagged duplicate (already in the stream).', [
      `statehub_pump_duplicates_total ${this.duplicates}`,
    ]);
    metric('statehub_pump_publish_errors_total', 'counter', 'Failed publishes, transient and permanent.', [
      `statehub_pump_publish_errors_total ${this.publishErrors}`,
    ]);
    metric('statehub_pump_restored_total', 'counter', 'Events the stream lost after acknowledging them, published again.', [
      `statehub_pump_restored_total ${this.restored}`,
    ]);
    metric('statehub_pump_capture_to_ack_seconds', 'histogram', 'Time from the transition (occurred_at) to the PubAck.', [
      ...LATENCY_BUCKETS.map((le, i) => `statehub_pump_capture_to_ack_seconds_bucket{le="${le}"} ${this.bucketCounts[i]}`),
      `statehub_pump_capture_to_ack_seconds_bucket{le="+Inf"} ${this.latencyCount}`,
      `statehub_pump_capture_to_ack_seconds_sum ${this.latencySum}`,
      `statehub_pump_capture_to_ack_seconds_count ${this.latencyCount}`,
    ]);
    metric('statehub_pump_standby_wait_seconds', 'gauge', 'How long the delta in hand has waited for standbys to flush its WAL (PUMP_WAIT_FOR_STANDBYS); 0 when none waits.', [
      `statehub_pump_standby_wait_seconds ${this.standbyWait()}`,
    ]);
    metric('statehub_pump_leader', 'gauge', '1 when this pump holds the leader lock and publishes.', [`statehub_pump_leader ${this.leader ? 1 : 0}`]);
    metric('statehub_pump_leader_lock_foreign', 'gauge', '1 when a session that is not a pump holds the leader lock, so no pump can publish.', [
      `statehub_pump_leader_lock_foreign ${this.leaderLockForeign ? 1 : 0}`,
    ]);
    return `${lines.join('\n')}\n`;
  }
}

export interface Readiness {
  ready: boolean;
  /** e.g. "leader", "standby", "standby (NATS not configured)", "not ready: NATS disconnected". */
  detail: string;
}

export interface MetricsServerOptions {
  host: string;
  port: number;
  metrics: PumpMetrics;
  readiness(): Readiness;
  /** The background sampler's last reading (a scrape never queries the database). */
  backlog(): BacklogReading;
  /** PUMP_METRICS_TOKEN: when set, /readyz and /metrics answer only `Authorization: Bearer <token>`. */
  token?: string;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

const REALM = 'state-hub-pump';
const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * Checks a request's bearer token against the expected one. Both sides are hashed first, so
 * timingSafeEqual compares equal lengths and the time taken says nothing about the token.
 */
function bearerCheck(token: string): (req: IncomingMessage) => 'ok' | 'missing' | 'invalid' {
  const expected = sha256(token);
  return (req) => {
    const sent = bearerOf(req.headers.authorization);
    if (sent === undefined) return 'missing';
    return timingSafeEqual(sha256(sent), expected) ? 'ok' : 'invalid';
  };
}

export async function startMetricsServer(o: MetricsServerOptions, log: Logger): Promise<MetricsServer> {
  const check = o.token === undefined ? undefined : bearerCheck(o.token);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (path === '/healthz') return send(200, 'ok\n');
    const auth = check && (path === '/readyz' || path === '/metrics') ? check(req) : 'ok';
    if (auth !== 'ok') {
      // RFC 6750: no error code when no token came, invalid_token when a wrong one did.
      const challenge = bearerChallenge(REALM, auth === 'invalid' ? { error: 'invalid_token' } : {});
      return send(401, 'unauthorized\n', { 'www-authenticate': challenge });
    }
    if (path === '/readyz') {
      const r = o.readiness();
      return send(r.ready ? 200 : 503, `${r.detail}\n`);
    }
    if (path === '/metrics') {
      return send(200, o.metrics.render(o.backlog()), { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    }
    send(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info('pump metrics listening', { host: o.host, port, tokenRequired: check !== undefined });
  if (!check && !isLoopbackHost(o.host)) {
    log.warn('pump metrics are open to the network: PUMP_METRICS_HOST is not a loopback address and PUMP_METRICS_TOKEN is not set', { host: o.host });
  }
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
