// Leader election: the pump holding a session advisory lock on its own connection publishes;
// the others retry every second. PostgreSQL releases the lock the moment the holder's session
// ends (process killed, connection terminated), so a standby takes over within about a second.
//
// A partition is the hard case: the server cannot tell a silent client from a dead one, and TCP
// keepalive takes hours on defaults. So the lock session is a lease: it runs a query every
// second, and the server ends it after LEASE_MS without one (idle_session_timeout), which
// releases the lock. On its side the leader gives up its query after QUERY_TIMEOUT_MS and steps
// down, well before the lease runs out: two pumps never publish at once for long, and a standby
// leads within about LEASE_MS + 1 s of the partition (docs/operations.md).
//
// A leader that cannot publish (its NATS server gone) hands over, but only to a pump that can:
// each pump holds ABLE_LOCK in shared mode while it can publish. An outage every pump shares (a
// stream leader election, all of NATS down) moves nothing: a hand-over would only add a delay.

import pg from 'pg';
import type { Logger } from '../logger.ts';
import { PgTarget } from '../pg-target.ts';
import { describe } from './backoff.ts';
import { ABLE_LOCK, anotherPumpCanPublish, describeForeignHolder, LEADER_APPLICATION, LEADER_LOCK, leaderLockHolder, type LockHolder } from './lock-holder.ts';
/** The server ends a lock session that sent nothing for this long (its lock goes with it). */
export const LEASE_MS = 10_000;
/** The leader's own check: a lock query unanswered this long means it is cut off, so it steps down. */
const QUERY_TIMEOUT_MS = 5000;

export interface LeaderOptions {
  connectionString: string;
  /** How often a standby retries and a leader checks its lock connection. */
  intervalMs?: number;
  onChange(leader: boolean): void;
  /**
   * Whether this pump can publish now (NATS usable). A leader that cannot for longer than
   * stepDownAfterMs lets go of the lock when a standby can, so that one takes over; a pump that
   * cannot does not contend.
   */
  canPublish?(): boolean;
  stepDownAfterMs?: number;
  /** Whether a session that is not a pump holds the lock, after each try for it. */
  onForeignHolder?(foreign: boolean): void;
}

export class LeaderElection {
  private client: pg.Client | undefined;
  private leader = false;
  /** Since when canPublish() has been false; undefined while it is true. */
  private unableSince: number | undefined;
  private announced = false;
  /** Whether the lock session holds ABLE_LOCK now. */
  private advertised = false;
  /** Logged once per spell of being unable with no standby able either. */
  private toldStaying = false;
  /** Who holds the lock while this pump does not, when that is not a pump; undefined otherwise. */
  private foreign: LockHolder | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly options: LeaderOptions,
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  /** A session that is not a pump holds the leader lock (seen on the last try for it). */
  get foreignHolder(): LockHolder | undefined {
    return this.foreign;
  }

  start(): void {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => this.schedule(this.options.intervalMs ?? 1000));
    }, ms);
  }

  private async tick(): Promise<void> {
    try {
      const client = this.client ?? (await this.connect());
      const able = this.options.canPublish?.() ?? true;
      this.unableSince = able ? undefined : (this.unableSince ?? Date.now());
      if (able) this.toldStaying = false;
      await this.advertise(client, able);
      if (this.leader) {
        if (this.unableSince !== undefined && Date.now() - this.unableSince > (this.options.stepDownAfterMs ?? 10_000)) {
          if (await anotherPumpCanPublish(client)) {
            await client.query('SELECT pg_advisory_unlock($1, $2)', [...LEADER_LOCK]);
            this.log.warn('cannot publish (NATS unusable): stepping down for a standby that can');
            this.setLeader(false);
            return;
          }
          if (!this.toldStaying) this.log.warn('cannot publish (NATS unusable), and no standby can either: keeping the lead');
          this.toldStaying = true;
          return;
        }
        // A dead lock connection is noticed by its 'error' event at once; this catches a silent one.
        await client.query('SELECT 1');
        return;
      }
      if (!able) {
        await client.query('SELECT 1'); // keeps the lease: an idle session would be ended every 10 s
        return;
      }
      const { rows } = await client.query<{ won: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS won', [...LEADER_LOCK]);
      if (rows[0]?.won && !this.stopped && client === this.client) {
        this.noteHolder(undefined);
        this.setLeader(true);
        return;
      }
      const holder = await leaderLockHolder(client);
      this.noteHolder(holder?.pump === false ? holder : undefined);
      if (!this.announced && !this.foreign) this.log.info('standby: another pump holds the leader lock');
      this.announced = true;
    } catch (err) {
      this.dropClient(err);
    }
  }

  /** Takes or lets go of ABLE_LOCK (shared) when this pump's ability to publish changed. */
  private async advertise(client: pg.Client, able: boolean): Promise<void> {
    if (able === this.advertised) return;
    if (!able) {
      await client.query('SELECT pg_advisory_unlock_shared($1, $2)', [...ABLE_LOCK]);
      this.advertised = false;
      return;
    }
    // try: a foreign session holding it exclusively must not block the lease's query.
    const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock_shared($1, $2) AS got', [...ABLE_LOCK]);
    this.advertised = rows[0]?.got === true;
  }

  private noteHolder(foreign: LockHolder | undefined): void {
    if (foreign && this.foreign?.pid !== foreign.pid) this.log.error(describeForeignHolder(foreign), { pid: foreign.pid, user: foreign.user, application: foreign.application });
    if (!foreign && this.foreign) this.log.info('the leader lock is no longer held by a foreign session');
    this.foreign = foreign;
    this.options.onForeignHolder?.(foreign !== undefined);
  }

  private async connect(): Promise<pg.Client> {
    const { connectionString, Client = pg.Client } = PgTarget.of(this.options.connectionString).clientConfig();
    const client = new Client({
      connectionString,
      application_name: LEADER_APPLICATION,
      keepAlive: true,
      query_timeout: QUERY_TIMEOUT_MS,
      connectionTimeoutMillis: 5000,
      // The lease: the tick keeps the session busy every second; silent for LEASE_MS, it ends.
      options: `-c idle_session_timeout=${LEASE_MS}`,
    });
    client.on('error', (err) => this.dropClient(err, client));
    client.on('end', () => this.dropClient(new Error('leader lock connection ended'), client));
    await client.connect();
    if (this.stopped) {
      await client.end().catch(() => undefined);
      throw new Error('stopped');
    }
    this.client = client;
    this.advertised = false; // a new session holds nothing
    return client;
  }

  /** Losing the lock connection loses the lock: step down at once, re-contend on the next tick. */
  private dropClient(err: unknown, which?: pg.Client): void {
    if (which && which !== this.client) return;
    const client = this.client;
    this.client = undefined;
    if (this.leader) {
      this.log.warn('leader lock connection lost; stepping down', { error: describe(err) });
      this.setLeader(false);
    }
    client?.removeAllListeners('end');
    client?.on('error', () => undefined);
    client?.end().catch(() => undefined);
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.log.info(leader ? 'became leader: publishing' : this.stopped ? 'leadership released' : 'standby: another pump publishes');
    this.options.onChange(leader);
  }

  /** Steps down and releases the lock (by closing its session). Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    this.setLeader(false);
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
