// statehub start: one command for a development machine. Migrates, then serves the API and
// runs the pump in this process. With DATABASE_URL unset it boots an embedded PostgreSQL first.
import { loadConfig } from '../../config.ts';
import { createDb } from '../../db.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../embedded.ts';
import { createLogger, redactUrl } from '../../logger.ts';
import { migrate } from '../../migrate.ts';
import { listenApi } from '../../api/server.ts';
import { handleSignals, type Step } from '../../shutdown.ts';

export async function run(_options: object, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const log = createLogger(config.LOG_LEVEL, { component: 'start' });
  const steps: Step[] = [];
  // The pump's own stop is bounded by PUMP_SHUTDOWN_TIMEOUT; the rest takes moments.
  const stopAll = handleSignals(log, config.PUMP_SHUTDOWN_TIMEOUT + 10_000, steps);

  let embedded: EmbeddedDatabase | undefined;
  try {
    if (!config.DATABASE_URL) embedded = await startEmbeddedPostgres(config.STATEHUB_DATA_DIR, log);
    const databaseUrl = config.DATABASE_URL ?? embedded!.url;
    if (embedded) steps.unshift({ name: 'embedded postgres', run: () => embedded!.stop() });

    await migrate(databaseUrl, log);
    const db = createDb({ connectionString: databaseUrl, max: config.PG_POOL_MAX, applicationName: 'statehub-api', statementTimeoutMs: 30_000 }, log);
    steps.unshift({ name: 'database pool', run: () => db.close() });
    const api = await listenApi(db, log, config.HOST, config.PORT);
    steps.unshift({ name: 'http server', run: () => api.close() });

    // The pump runs in-process and never shares the API's pool.
    const { startPump } = await import('../../pump/index.ts');
    const pump = await startPump({ ...config, DATABASE_URL: databaseUrl }, createLogger(config.LOG_LEVEL, { component: 'pump' }));
    steps.unshift({ name: 'pump', run: () => pump.stop() });
    // A pump that cannot go on (e.g. the stream cannot hold our subjects) takes the rest down.
    void pump.closed.then((fatal) => fatal && stopAll('pump failed', true));

    process.stdout.write(
      `state-hub is running\n  API       http://${config.HOST}:${api.port}  (GET /openapi.json)\n  database  ${redactUrl(databaseUrl)}${embedded ? ` (embedded, data in ${embedded.dataDir})` : ''}\n` +
        `  NATS      ${config.NATS_URL ?? 'not configured: events wait in the outbox'}\nCtrl-C stops everything.\n`,
    );
  } catch (err) {
    log.error('start failed', { error: (err as Error).message });
    await stopAll('startup failure', true);
    return 1;
  }
  return new Promise<number>(() => undefined); // runs until a signal
}
