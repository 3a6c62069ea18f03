// LISTENs for the capture trigger's wake-up on its own connection (pg-listen). A notification is
// only a nudge: the loop also drains after every (re)connect, because notifications sent while
// this connection was down are lost.
import pgListen from 'pg-listen';
import type { Logger } from '../logger.ts';
import { PgTarget, type PgServer } from '../pg-target.ts';
import { Backoff, HealthLog, sleep } from './backoff.ts';
import { WAKE_CHANNEL } from '../events/wake.ts';

type Subscriber = ReturnType<typeof pgListen.default>;

export interface ListenerOptions {
  connectionString: string;
  /** Called on every notification and after every (re)connect. */
  onWake(reason: 'notification' | 'connected'): void;
}

export class OutboxListener {
  private subscriber: Subscriber | undefined;
  private connected = false;
  private readonly stopping = new AbortController();
  private readonly health: HealthLog;
  private loop: Promise<void> | undefined;
  private readonly retired = new WeakSet<Subscriber>();
  private readonly target: PgTarget;

  constructor(
    private readonly options: ListenerOptions,
    log: Logger,
  ) {
    this.health = new HealthLog(log, 'PostgreSQL notification listener');
    this.target = PgTarget.of(options.connectionString);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Returns at once; the first connect is retried with backoff (pg-listen does not retry it). */
  start(): void {
    this.loop = this.connectLoop();
  }

  private async connectLoop(): Promise<void> {
    const backoff = new Backoff(250, 5000);
    while (!this.stopping.signal.aborted) {
      let subscriber: Subscriber | undefined;
      let server: PgServer | undefined;
      try {
        // pg-listen makes its own clients: give it the server to use now (pg-target.ts). A
        // standby refuses LISTEN, so reaching one is a failure like any other, and looks again.
        const now = await this.target.urlNow();
        server = now.server;
        subscriber = this.create(now.url);
        await subscriber.connect();
        await subscriber.listenTo(WAKE_CHANNEL);
        if (this.stopping.signal.aborted) return void (await this.retire(subscriber));
        this.subscriber = subscriber;
        return;
      } catch (err) {
        this.connected = false;
        this.health.failing(err);
        if (server) this.target.forget(server);
        if (subscriber) await this.retire(subscriber);
        await sleep(backoff.next(), this.stopping.signal);
      }
    }
  }

  private create(connectionString: string): Subscriber {
    const subscriber = pgListen.default(
      { connectionString, application_name: 'statehub-pump-listener', connectionTimeoutMillis: 10_000, keepAlive: true },
      // pg-listen's own reconnect cannot be stopped by close(), so it gets a few attempts and
      // then 'error'; past that this class starts over with a new subscriber it can abort.
      // retryTimeout 0 turns off its 3 s give-up timer. Payloads are not JSON.
      // With several hosts (pg-target.ts) the server may be gone for good (a failover): after one
      // failed reconnect, look for the one that takes writes now.
      { retryLimit: this.target.plain ? 4 : 1, retryTimeout: 0, retryInterval: (attempt: number) => Math.min(250 * 2 ** attempt, 2000), parse: (s: string) => s },
    );
    // A retired subscriber may still finish a reconnect it had started: close it again.
    const gone = () => this.stopping.signal.aborted || this.retired.has(subscriber);
    subscriber.events.on('connected', () => {
      if (gone()) return void subscriber.close().catch(() => undefined);
      this.connected = true;
      this.health.ok();
      this.options.onWake('connected');
    });
    subscriber.events.on('reconnect', (attempt: number) => {
      if (gone()) return;
      this.connected = false;
      if (attempt === 1) this.health.failing(new Error('connection lost'));
    });
    subscriber.events.on('error', (err: Error) => {
      if (gone() || subscriber !== this.subscriber) return;
      this.connected = false;
      this.health.failing(err);
      this.subscriber = undefined;
      void this.retire(subscriber);
      this.loop = this.connectLoop();
    });
    subscriber.notifications.on(WAKE_CHANNEL, () => this.options.onWake('notification'));
    return subscriber;
  }

  private async retire(subscriber: Subscriber): Promise<void> {
    this.retired.add(subscriber);
    await subscriber.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    await this.loop;
    this.connected = false;
    if (this.subscriber) await this.retire(this.subscriber);
  }
}
