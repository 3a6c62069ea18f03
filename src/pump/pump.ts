// startPump wires the pump's parts together: listener, leader election, NATS link, delivery and
// metrics. `statehub pump` runs it under signal handling; `statehub start` runs it in-process.
import { requireDatabaseUrl, type Config } from '../config.ts';
import { createDb, type DbOptions } from '../db.ts';
import { PgTarget } from '../pg-target.ts';
import type { Logger } from '../logger.ts';
import { describe } from './backoff.ts';
import { JetStreamLink } from './jetstream.ts';
import { LeaderElection } from './leader.ts';
import { describeForeignHolder } from './lock-holder.ts';
import { OutboxListener } from './listener.ts';
import { backlog } from './backlog.ts';
import { BacklogSampler } from './backlog-sampler.ts';
import { Delivery } from './delivery.ts';
import { PumpMetrics, startMetricsServer, type Readiness } from './metrics.ts';
import { readNatsFiles } from './nats.ts';
import { confirmDatabase, PositionAheadError } from './origin.ts';
import { setBusy } from './outbox.ts';
import { StandbyGate } from './standbys.ts';

/** How often the backlog gauges are read from the database; a scrape shows the last reading. */
const BACKLOG_EVERY_MS = 5000;

/** The pump cannot start: database unreachable or not migrated, metrics port taken. */
export class PumpStartError extends Error {
  override name = 'PumpStartError';
}

export interface PumpOptions {
  /** Called once when connected to PostgreSQL and NATS (stream ensured), or to PostgreSQL alone when NATS is not configured. */
  onReady?: () => void;
}

export interface PumpHandle {
  /** The bound metrics port (useful with PUMP_METRICS_PORT=0). */
  readonly metricsPort: number;
  /** Resolves when the pump has stopped: with the fatal error that stopped it, or undefined after stop(). */
  readonly closed: Promise<Error | undefined>;
  readonly isLeader: boolean;
  readiness(): Readiness;
  /**
   * Takes no new delta, lets the one in flight finish and records it (up to PUMP_SHUTDOWN_TIMEOUT),
   * releases leadership, drains NATS, closes every connection. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * The pump's pool. Bookkeeping commits need not wait for the disk: a batch row lost in a crash
 * only re-publishes its delta, which JetStream drops as duplicates, and the writers keep the
 * fsyncs to themselves. Not while it waits for standbys: a delta waits for the WAL written
 * before it was read, and an unflushed batch row would hold it back until the WAL writer's
 * next round (wal_writer_delay, 200 ms). It polls the outbox many times a second while events
 * come in, each poll an index lookup: no parallel workers, no JIT (plainPlans). The client-side
 * timeout ends a query a partition swallowed (the server's cannot).
 */
export function pumpDbOptions(url: string, waitForStandbys = 0): DbOptions {
  return {
    connectionString: url,
    max: 4,
    applicationName: 'statehub-pump',
    statementTimeoutMs: 30_000,
    queryTimeoutMs: 35_000,
    asyncCommit: waitForStandbys === 0,
    plainPlans: true,
  };
}

export async function startPump(config: Config, log: Logger, options: PumpOptions = {}): Promise<PumpHandle> {
  const url = requireDatabaseUrl(config);
  // Before any connection: a bad credentials or TLS file is a ConfigError (exit 2).
  const natsFiles = readNatsFiles(config);
  const db = createDb(pumpDbOptions(url, config.PUMP_WAIT_FOR_STANDBYS), log);
  try {
    await confirmDatabase(db);
  } catch (err) {
    await db.close();
    if (err instanceof PositionAheadError) throw new PumpStartError(err.message, { cause: err });
    throw new PumpStartError(`cannot read the delivery position in statehub.outbox_batches (is the database up and migrated?): ${describe(err)}`, { cause: err });
  }

  const standbys = new StandbyGate(db, config.PUMP_WAIT_FOR_STANDBYS);
  const metrics = new PumpMetrics(() => standbys.waitSeconds);
  let fatal: Error | undefined;
  let readySent = false;
  const natsConfigured = Boolean(config.NATS_URL);
  if (!natsConfigured) log.warn('NATS_URL is not set: the pump publishes nothing and events wait in the outbox');

  const link = natsConfigured
    ? new JetStreamLink(config, natsFiles, log, {
        onUsable: () => (delivery.wake(), maybeReady()),
        onFatal: cannotContinue,
      })
    : undefined;
  const leader = natsConfigured
    ? new LeaderElection(
        {
          connectionString: url,
          onChange: (isLeader) => {
            metrics.leader = isLeader;
            delivery.leadershipChanged(isLeader);
          },
          canPublish: () => link?.publisher !== undefined,
          onForeignHolder: (foreign) => (metrics.leaderLockForeign = foreign),
        },
        log,
      )
    : undefined;
  const delivery = new Delivery({
    db,
    log,
    metrics,
    batchSize: config.PUMP_BATCH_SIZE,
    pollIntervalMs: config.PUMP_POLL_INTERVAL,
    maxInFlight: config.PUMP_MAX_IN_FLIGHT,
    publisher: config.EVENT_PUBLISHER,
    jetstream: () => link?.publisher,
    stream: link,
    databaseServer: () => PgTarget.of(url).changes,
    isLeader: () => leader?.isLeader ?? false,
    standbys,
    onFatal: cannotContinue,
  });
  const listener = new OutboxListener(
    {
      connectionString: url,
      onWake: (reason) => {
        if (reason === 'notification') return delivery.wake();
        delivery.databaseConnected();
        maybeReady();
      },
    },
    log,
  );

  /** A fatal error (the stream cannot hold our subjects, the database's position lies ahead): stop, exiting with it. */
  function cannotContinue(err: Error): void {
    fatal ??= err;
    log.error('pump cannot continue', { error: describe(err) });
    void handle.stop();
  }

  function readiness(): Readiness {
    if (!listener.isConnected) return { ready: false, detail: 'not ready: PostgreSQL listener disconnected' };
    if (!link) return { ready: true, detail: 'standby (NATS not configured)' };
    const foreign = leader?.foreignHolder;
    if (foreign) return { ready: false, detail: `not ready: ${describeForeignHolder(foreign)}` };
    const problem = link.problem ?? standbys.problem;
    if (problem) return { ready: false, detail: `not ready: ${problem}` };
    const role = leader?.isLeader ? 'leader' : 'standby';
    return { ready: true, detail: [role, ...link.warnings.map((w) => `warning: ${w}`)].join('; ') };
  }
  function maybeReady(): void {
    if (readySent || !listener.isConnected || (link && !link.publisher)) return;
    readySent = true;
    log.info('pump ready', { nats: natsConfigured });
    options.onReady?.();
  }

  // Every pump exports the backlog (the same numbers on each), read in the background.
  const sampler = new BacklogSampler(() => backlog(db), BACKLOG_EVERY_MS, log);
  let server: Awaited<ReturnType<typeof startMetricsServer>>;
  try {
    server = await startMetricsServer(
      {
        host: config.PUMP_METRICS_HOST,
        port: config.PUMP_METRICS_PORT,
        metrics,
        readiness,
        backlog: () => sampler.current,
        token: config.PUMP_METRICS_TOKEN,
      },
      log,
    );
  } catch (err) {
    await db.close();
    throw new PumpStartError(`cannot listen on ${config.PUMP_METRICS_HOST}:${config.PUMP_METRICS_PORT} for metrics: ${describe(err)}`, { cause: err });
  }

  let resolveClosed!: (err: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((r) => (resolveClosed = r));
  let stopping: Promise<void> | undefined;

  async function shutdown(): Promise<void> {
    log.info('pump stopping: finishing the delta in flight');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), config.PUMP_SHUTDOWN_TIMEOUT)));
    const stopped = delivery.stop();
    if ((await Promise.race([stopped, timedOut])) === 'timeout') {
      log.warn('the delta in flight did not finish in time; it will be published again (JetStream drops what it already has)');
      delivery.abandon();
      await stopped;
    }
    clearTimeout(timer);
    // Writers skip NOTIFY while busy is true; hand wake-ups back for whoever leads next.
    if (leader?.isLeader && delivery.flagMayBeSet) await setBusy(db, false).catch(() => undefined);
    await leader?.stop();
    await link?.close();
    await listener.close();
    await sampler.stop();
    await server.close();
    await db.close();
    log.info('pump stopped');
    resolveClosed(fatal);
  }

  const handle: PumpHandle = {
    metricsPort: server.port,
    closed,
    get isLeader() {
      return leader?.isLeader ?? false;
    },
    readiness,
    stop() {
      stopping ??= shutdown();
      return stopping;
    },
  };

  listener.start();
  sampler.start();
  delivery.start();
  leader?.start();
  try {
    await link?.start();
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}
