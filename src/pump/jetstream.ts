// Keeps one NATS connection up for the pump: connects with backoff until it succeeds, ensures
// the stream, tracks disconnects/reconnects, and tells the loop when publishing can resume.
import type { NatsConnection } from 'nats';
import type { Config } from '../config.ts';
import { redactServers, type Logger } from '../logger.ts';
import { Backoff, HealthLog, describe, sleep } from './backoff.ts';
import { JetStreamPublisher } from './jetstream-publisher.ts';
import { connectNats, type NatsFiles } from './nats.ts';
import { ensureStream, StreamConfigError } from './stream.ts';

export interface JetStreamLinkEvents {
  /** Connected (again) with the stream ensured: drain now. */
  onUsable(): void;
  /** Cannot go on (stream cannot hold our subjects): the pump should exit. */
  onFatal(err: Error): void;
}

/** How long a publish may wait for its PubAck before it counts as failed (and is retried). */
const PUBACK_TIMEOUT_MS = 5000;

export class JetStreamLink {
  private nc: NatsConnection | undefined;
  private publisherOf: JetStreamPublisher | undefined;
  private connected = false;
  private streamReady = false;
  private readonly stopping = new AbortController();
  private readonly health: HealthLog;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly config: Config,
    /** Read once by the caller (readNatsFiles): a file problem fails the start, not each attempt. */
    private readonly files: NatsFiles,
    private readonly log: Logger,
    private readonly events: JetStreamLinkEvents,
  ) {
    this.health = new HealthLog(log, `NATS at ${redactServers(config.NATS_URL ?? '')}`);
  }

  /** The publisher while connected with the stream ensured; undefined while NATS is not usable. */
  get publisher(): JetStreamPublisher | undefined {
    return this.connected && this.streamReady ? this.publisherOf : undefined;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Makes the first attempt (so a misconfigured stream fails start-up) and keeps trying in the background. */
  async start(): Promise<void> {
    if (await this.attempt()) return;
    this.loop = this.retry();
  }

  /** Never rejects: a StreamConfigError has gone to onFatal already. */
  private async retry(): Promise<void> {
    const backoff = new Backoff(500, 15_000);
    while (!this.stopping.signal.aborted) {
      await sleep(backoff.next(), this.stopping.signal);
      if (this.stopping.signal.aborted || (await this.attempt().catch(() => true))) return;
    }
  }

  /** One connect + ensure; false when it should be retried. Throws only StreamConfigError. */
  private async attempt(): Promise<boolean> {
    try {
      const nc = this.nc ?? (await connectNats(this.config, 'statehub-pump', this.files));
      if (this.stopping.signal.aborted) {
        await nc.close();
        return true;
      }
      if (nc !== this.nc) this.watch(nc);
      await ensureStream(await nc.jetstreamManager(), this.config.STREAM_NAME, this.log);
      this.streamReady = true;
      this.health.ok();
      this.events.onUsable();
      return true;
    } catch (err) {
      if (err instanceof StreamConfigError) {
        this.events.onFatal(err);
        throw err;
      }
      this.health.failing(err);
      return false;
    }
  }

  private watch(nc: NatsConnection): void {
    this.nc = nc;
    this.publisherOf?.close();
    this.publisherOf = new JetStreamPublisher(nc, PUBACK_TIMEOUT_MS);
    this.connected = true;
    this.log.info('connected to NATS', { server: nc.getServer() });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.connected = false;
          this.health.failing(new Error('disconnected'), { server: String(s.data) });
        } else if (s.type === 'reconnect') {
          this.connected = true;
          // The server may have restarted without its store; make sure the stream is there.
          this.streamReady = false;
          void this.attempt().then(
            (ok) => {
              if (!ok) this.loop = this.retry();
            },
            () => undefined,
          );
        }
      }
    })().catch((err) => this.log.warn('NATS status watcher stopped', { error: describe(err) }));
    void nc.closed().then((err) => {
      if (this.nc !== nc) return;
      this.connected = false;
      this.nc = undefined;
      this.publisherOf?.close();
      if (this.stopping.signal.aborted) return;
      // Only with a fatal error (auth revoked...); start over.
      this.health.failing(err ?? new Error('connection closed'));
      this.loop = this.retry();
    });
  }

  /** Drains the connection (flushes what was published); idempotent. */
  async close(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    await this.loop?.catch(() => undefined);
    const nc = this.nc;
    this.connected = false;
    this.publisherOf?.close();
    if (!nc || nc.isClosed()) return;
    // drain() waits for the server; during an outage there is nothing to flush, so do not hang.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 3000)));
    await Promise.race([nc.drain().catch(() => undefined), gaveUp]);
    clearTimeout(timer);
    // drain() fails at once while disconnected, leaving a client that reconnects forever.
    if (!nc.isClosed()) await nc.close().catch(() => undefined);
  }
}
