// startPump wires the pump's parts together: listener, leader election, NATS link, loop and
// metrics. `statehub pump` runs it under signal handling; `statehub start` runs it in-process.
import { requireDatabaseUrl, type Config } from '../config.ts';
import { createDb } from '../db.ts';
import type { Logger } from '../logger.ts';
import { describe } from './backoff.ts';
import { JetStreamLink } from './jetstream.ts';
import { LeaderElection } from './leader.ts';
import { OutboxListener } from './listener.ts';
import { PumpLoop } from './loop.ts';
import { PumpMetrics, startMetricsServer, type Readiness } from './metrics.ts';
import { readNatsFiles } from './nats.ts';
import { backlog, setDraining } from './outbox.ts';

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
   * Stops taking batches, waits (up to PUMP_SHUTDOWN_TIMEOUT) for in-flight acks and marks them,
   * releases leadership, drains NATS, closes every connection. Idempotent.
   */
  stop(): Promise<void>;
}

export async function startPump(config: Config, log: Logger, options: PumpOptions = {}): Promise<PumpHandle> {
  const url = requireDatabaseUrl(config);
  // Before any connection: a bad credentials or TLS file is a ConfigError (exit 2).
  const natsFiles = readNatsFiles(config);
  // Bookkeeping commits need not wait for the disk: a mark lost in a crash only re-publishes
  // rows that JetStream drops as duplicates, and the writers keep the fsyncs to themselves.
  const db = createDb({ connectionString: url, max: 4, applicationName: 'statehub-pump', statementTimeoutMs: 30_000, asyncCommit: true }, log);
  try {
    await db.query('SELECT draining FROM statehub.outbox_pump_state');
  } catch (err) {
    await db.close();
    throw new PumpStartError(`cannot read statehub.outbox_pump_state (is the database up and migrated?): ${describe(err)}`, { cause: err });
  }

  const metrics = new PumpMetrics();
  let fatal: Error | undefined;
  let readySent = false;
  const natsConfigured = Boolean(config.NATS_URL);
  if (!natsConfigured) log.warn('NATS_URL is not set: the pump publishes nothing and events wait in the outbox');

  const link = natsConfigured
    ? new JetStreamLink(config, natsFiles, log, {
        onUsable: () => (loop.wake(), maybeReady()),
        onFatal: (err) => {
          fatal ??= err;
          log.error('pump cannot continue', { error: describe(err) });
          void handle.stop();
        },
      })
    : undefined;
  const leader = natsConfigured
    ? new LeaderElection(
        {
          connectionString: url,
          onChange: (isLeader) => {
            metrics.leader = isLeader;
            loop.leadershipChanged(isLeader);
          },
          canPublish: () => link?.js !== undefined,
        },
        log,
      )
    : undefined;
  const loop = new PumpLoop({
    db,
    log,
    metrics,
    batchSize: config.PUMP_BATCH_SIZE,
    pollIntervalMs: config.PUMP_POLL_INTERVAL,
    publisher: { publisher: config.EVENT_PUBLISHER, maxInFlight: config.PUMP_MAX_IN_FLIGHT },
    js: () => link?.js,
    isLeader: () => leader?.isLeader ?? false,
  });
  const listener = new OutboxListener(
    {
      connectionString: url,
      onWake: (reason) => {
        if (reason === 'notification') return loop.wake();
        loop.reconnected();
        maybeReady();
      },
    },
    log,
  );

  function readiness(): Readiness {
    if (!listener.isConnected) return { ready: false, detail: 'not ready: PostgreSQL listener disconnected' };
    if (!link) return { ready: true, detail: 'standby (NATS not configured)' };
    if (!link.js) return { ready: false, detail: 'not ready: NATS disconnected or stream not ensured' };
    return { ready: true, detail: leader?.isLeader ? 'leader' : 'standby' };
  }
  function maybeReady(): void {
    if (readySent || !listener.isConnected || (link && !link.js)) return;
    readySent = true;
    log.info('pump ready', { nats: natsConfigured });
    options.onReady?.();
  }

  let server: Awaited<ReturnType<typeof startMetricsServer>>;
  try {
    server = await startMetricsServer(
      {
        host: config.PUMP_METRICS_HOST,
        port: config.PUMP_METRICS_PORT,
        metrics,
        readiness,
        backlog: () => backlog(db).catch(() => undefined),
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
    log.info('pump stopping: finishing in-flight publishes');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), config.PUMP_SHUTDOWN_TIMEOUT)));
    if ((await Promise.race([loop.stop(), timedOut])) === 'timeout') {
      log.warn('in-flight publishes not settled in time; they will be re-published (deduplicated) on the next start');
    }
    clearTimeout(timer);
    // Writers skip NOTIFY while draining is true; hand wake-ups back for whoever leads next.
    if (leader?.isLeader && loop.flagMayBeSet) await setDraining(db, false).catch(() => undefined);
    await leader?.stop();
    await link?.close();
    await listener.close();
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
  loop.start();
  leader?.start();
  try {
    await link?.start();
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}
