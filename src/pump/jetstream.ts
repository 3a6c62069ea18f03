// Keeps one NATS connection up for the pump: connects with backoff until it succeeds, ensures
// the stream, tracks disconnects/reconnects, and tells the loop when publishing can resume. The
// stream is checked again every STREAM_CHECK_MS, after every reconnect and (at most once a
// second) while publishes find no stream: a deleted stream is created again; one whose subjects
// no longer hold ours stops publishing (not ready) until an operator restores them.
//
// A publish that finds no stream (503) or no answer is not proof the stream is gone: on a
// cluster its servers elect a new leader for a few seconds after one dies, and meanwhile every
// publish fails so. Publishing goes on (the lanes retry with the same msgID), and the check
// tells the two apart: a missing stream answers "not found", an election does not answer.
import { millis, type NatsConnection } from 'nats';
import type { Config } from '../config.ts';
import { redactServers, type Logger } from '../logger.ts';
import { Backoff, HealthLog, describe, sleep } from './backoff.ts';
import { JetStreamPublisher } from './jetstream-publisher.ts';
import { connectNats, type NatsFiles } from './nats.ts';
import { ensureStream, StreamConfigError, type EnsuredStream, type WantedStream } from './stream.ts';

export interface JetStreamLinkEvents {
  /** Connected (again) with the stream ensured: drain now. */
  onUsable(): void;
  /** Cannot start (the stream cannot hold our subjects): the pump should exit. */
  onFatal(err: Error): void;
}

/** How long a publish may wait for its PubAck before it counts as failed (and is retried). */
const PUBACK_TIMEOUT_MS = 5000;
/** How often the stream is looked at while all is well: a stream deleted while idle is noticed this late at most. */
const STREAM_CHECK_MS = 10_000;
/** While publishes find no stream, the least time between two looks at it. */
const RECHECK_MS = 1000;
/** Publishes failing unanswered this long make the pump not ready (an election takes ~5 s). */
const OUTAGE_NOT_READY_MS = 2000;

export class JetStreamLink {
  private nc: NatsConnection | undefined;
  private publisherOf: JetStreamPublisher | undefined;
  private connected = false;
  private streamReady = false;
  /** Why the stream cannot be used, for /readyz; undefined until it was first looked at. */
  private streamProblem: string | undefined;
  private everReady = false;
  /** What the existing stream differs in from what the pump would create (replicas, window), for /readyz. */
  private differences: string[] = [];
  /** When JetStream created the stream, as last looked at. */
  private createdAt: string | undefined;
  private checking: Promise<void> | undefined;
  private lastCheck = 0;
  private readonly stopping = new AbortController();
  private readonly health: HealthLog;
  private recovering: Promise<void> | undefined;
  private readonly checkTimer: NodeJS.Timeout;

  constructor(
    private readonly config: Config,
    /** Read once by the caller (readNatsFiles): a file problem fails the start, not each attempt. */
    private readonly files: NatsFiles,
    private readonly log: Logger,
    private readonly events: JetStreamLinkEvents,
  ) {
    this.health = new HealthLog(log, `NATS at ${redactServers(config.NATS_URL ?? '')}`);
    this.checkTimer = setInterval(() => this.look(0), STREAM_CHECK_MS);
    this.checkTimer.unref();
  }

  /** The publisher while connected with the stream ensured; undefined while NATS is not usable. */
  get publisher(): JetStreamPublisher | undefined {
    return this.connected && this.streamReady ? this.publisherOf : undefined;
  }

  /** Why nothing can be published now, for /readyz; undefined when it can. */
  get problem(): string | undefined {
    if (!this.connected) return 'NATS disconnected';
    if (!this.streamReady) return `stream ${this.config.STREAM_NAME}: ${this.streamProblem ?? 'not ensured yet'}`;
    const outage = this.publisherOf?.outage;
    if (outage && Date.now() - outage.since >= OUTAGE_NOT_READY_MS) {
      const seconds = Math.round((Date.now() - outage.since) / 1000);
      return `stream ${this.config.STREAM_NAME} stores nothing for ${seconds} s (${outage.reason}): its servers may be electing a leader or lack a quorum; events wait in the outbox`;
    }
    return undefined;
  }

  /** When JetStream created the stream, as the last look saw it; undefined before the first. */
  get streamCreatedAt(): string | undefined {
    return this.createdAt;
  }

  /** The stream's creation time and duplicate window, asked now. Throws when NATS does not answer. */
  async streamNow(): Promise<{ createdAt: string; duplicateWindowMs: number }> {
    if (!this.nc) throw new Error('NATS is not connected');
    const info = await (await this.nc.jetstreamManager()).streams.info(this.config.STREAM_NAME);
    return { createdAt: info.created, duplicateWindowMs: millis(info.config.duplicate_window ?? 0) };
  }

  /** How the existing stream differs from what STREAM_REPLICAS and STREAM_DUPLICATE_WINDOW ask; empty when it does not. */
  get warnings(): readonly string[] {
    return this.differences;
  }

  /** Makes the first attempt (so a misconfigured stream fails start-up) and keeps trying in the background. */
  async start(): Promise<void> {
    if (!(await this.attempt(true))) this.recover(true);
  }

  /** Connects and ensures the stream, with backoff, until both work; one loop at a time. */
  private recover(waitFirst: boolean): void {
    if (this.recovering || this.stopping.signal.aborted) return;
    this.recovering = (async () => {
      const backoff = new Backoff(500, 15_000);
      if (waitFirst) await sleep(backoff.next(), this.stopping.signal);
      while (!this.stopping.signal.aborted && !(await this.attempt(false))) await sleep(backoff.next(), this.stopping.signal);
    })().finally(() => (this.recovering = undefined));
  }

  /** One connect + ensure; false when it should be retried. Throws StreamConfigError only at start. */
  private async attempt(atStart: boolean): Promise<boolean> {
    try {
      const nc = this.nc ?? (await connectNats(this.config, 'statehub-pump', this.files));
      if (this.stopping.signal.aborted) {
        if (nc !== this.nc) await nc.close();
        return true;
      }
      if (nc !== this.nc) this.watch(nc);
      await this.ensure(nc);
      return true;
    } catch (err) {
      if (err instanceof StreamConfigError) {
        this.streamProblem = err.message;
        if (atStart) {
          this.events.onFatal(err);
          throw err;
        }
      }
      this.health.failing(err);
      return false;
    }
  }

  /** Ensures the stream; publishing resumes if it was paused. */
  private async ensure(nc: NatsConnection): Promise<void> {
    const name = this.config.STREAM_NAME;
    const stream = await ensureStream(await nc.jetstreamManager(), this.wanted(), this.log);
    this.noteStream(stream);
    this.everReady = true;
    this.streamProblem = undefined;
    this.health.ok();
    if (this.streamReady) return;
    this.streamReady = true;
    this.log.info('JetStream stream ready', { stream: name, subjects: stream.subjects, duplicate_window_ms: stream.duplicateWindowMs, replicas: stream.replicas });
    this.events.onUsable();
  }

  private wanted(): WantedStream {
    return { name: this.config.STREAM_NAME, duplicateWindowMs: this.config.STREAM_DUPLICATE_WINDOW, replicas: this.config.STREAM_REPLICAS };
  }

  /** Logs a re-creation, and each new way the stream differs from what the pump would create, once. */
  private noteStream(stream: EnsuredStream): void {
    const name = this.config.STREAM_NAME;
    this.createdAt = stream.createdAt;
    if (stream.created && this.everReady) this.log.warn('JetStream stream was missing: created it again (what it held is gone)', { stream: name });
    const { STREAM_DUPLICATE_WINDOW: window, STREAM_REPLICAS: replicas } = this.config;
    const differences: { detail: string; warning: string }[] = [];
    if (stream.duplicateWindowMs < window) {
      differences.push({
        detail: `stream ${name} keeps message ids for ${stream.duplicateWindowMs} ms, less than STREAM_DUPLICATE_WINDOW (${window} ms)`,
        warning:
          'JetStream stream keeps message ids for less than STREAM_DUPLICATE_WINDOW: after a pump outage or a PostgreSQL crash longer than its window, ' +
          'the events of the last unrecorded delta may be stored twice (consumers deduplicate on the envelope id)',
      });
    }
    if (stream.replicas !== replicas) {
      differences.push({
        detail: `stream ${name} has ${stream.replicas} replica(s), STREAM_REPLICAS asks for ${replicas}`,
        warning: 'JetStream stream has other replicas than STREAM_REPLICAS: the pump leaves an existing stream as it is (`nats stream edit --replicas` changes it)',
      });
    }
    for (const d of differences) {
      if (this.differences.includes(d.detail)) continue;
      this.log.warn(d.warning, { stream: name, duplicate_window_ms: stream.duplicateWindowMs, wanted_ms: window, replicas: stream.replicas, wanted_replicas: replicas });
    }
    this.differences = differences.map((d) => d.detail);
  }

  /**
   * Looks at the stream in the background, unless a look ran less than `minGapMs` ago or runs now.
   * Not while the connect loop runs: it ensures the stream itself.
   */
  private look(minGapMs: number): void {
    if (!this.nc || !this.connected || this.recovering || this.checking || Date.now() - this.lastCheck < minGapMs) return;
    this.lastCheck = Date.now();
    this.checking = this.check().finally(() => (this.checking = undefined));
  }

  /**
   * The look: a vanished stream is created again, one no longer ours stops publishing. A stream
   * that does not answer (an election, no quorum) is left to the publishes' retries. It never
   * marks the stream ready: a publish may have found trouble while it ran.
   */
  private async check(): Promise<void> {
    const nc = this.nc;
    if (!nc) return;
    try {
      this.noteStream(await ensureStream(await nc.jetstreamManager(), this.wanted(), this.log));
    } catch (err) {
      // A timeout or disconnect is the status watcher's business; a stream no longer ours is ours.
      if (err instanceof StreamConfigError) this.streamTrouble(err.message);
    }
  }

  /** Another stream stores our subjects, or ours no longer holds them: stop publishing and look again. */
  private streamTrouble(why: string): void {
    if (!this.streamReady || this.stopping.signal.aborted) return;
    this.streamReady = false;
    this.streamProblem = why;
    this.log.warn('JetStream stream unusable: publishing paused while it is checked', { stream: this.config.STREAM_NAME, reason: why });
    this.recover(false);
  }

  private watch(nc: NatsConnection): void {
    this.nc = nc;
    this.publisherOf?.close();
    this.publisherOf = new JetStreamPublisher(nc, PUBACK_TIMEOUT_MS, {
      stream: this.config.STREAM_NAME,
      onNoResponders: () => this.look(RECHECK_MS),
      onMismatch: (why) => this.streamTrouble(why),
    });
    this.connected = true;
    this.log.info('connected to NATS', { server: nc.getServer() });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.connected = false;
          this.health.failing(new Error('disconnected'), { server: String(s.data) });
        } else if (s.type === 'reconnect') {
          // To the same server or another of the cluster: publishing resumes at once. The server
          // may have restarted without its store, so the stream is looked at; a missing one is
          // created again (publishes meanwhile find no stream and are retried).
          this.connected = true;
          this.health.ok({ server: nc.getServer() });
          this.lastCheck = 0;
          this.look(0);
          if (this.publisher) this.events.onUsable();
        }
      }
    })().catch((err) => this.log.warn('NATS status watcher stopped', { error: describe(err) }));
    void nc.closed().then((err) => {
      if (this.nc !== nc) return;
      this.connected = false;
      this.nc = undefined;
      // The next connection must announce itself (onUsable): an idle leader waits for it.
      this.streamReady = false;
      this.publisherOf?.close();
      if (this.stopping.signal.aborted) return;
      // Only with a fatal error (auth revoked...); start over.
      this.health.failing(err ?? new Error('connection closed'));
      this.recover(true);
    });
  }

  /** Drains the connection (flushes what was published); idempotent. */
  async close(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    clearInterval(this.checkTimer);
    await this.recovering?.catch(() => undefined);
    await this.checking;
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
