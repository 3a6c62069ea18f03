// statehub start: one command for a development machine. Migrates, then serves the API and
// runs the pump in this process. With DATABASE_URL unset it boots an embedded PostgreSQL first,
// and with NATS_URL unset a private nats-server when one is installed.
import { loadConfig } from '../../config.ts';
import { errorText } from '../../error-text.ts';
import { createLogger } from '../../logger.ts';
import { migrate } from '../../migrate.ts';
import { accessSettings } from '../../api/access.ts';
import { createApiDb, listenApi } from '../../api/server.ts';
import { handleSignals, type Step } from '../../shutdown.ts';
import { StartStoppedError } from '../../start/server-process.ts';
import { pumpConfig, startBackingServices } from '../../start/services.ts';
import { banner } from '../../start/banner.ts';
import { settingsOf } from '../../operations/operation.ts';

export async function run(_options: object, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const log = createLogger(config.LOG_LEVEL, { component: 'start' });
  const steps: Step[] = [];
  // The pump's own stop is bounded by PUMP_SHUTDOWN_TIMEOUT; the rest takes moments.
  const stopAll = handleSignals(log, config.PUMP_SHUTDOWN_TIMEOUT + 10_000, steps);

  try {
    // Each service registers its stop step before it starts, so a Ctrl-C mid-start stops it.
    const services = await startBackingServices(config, env, log, steps);

    await migrate(services.databaseUrl, log);
    const db = createApiDb(config, services.databaseUrl, log);
    steps.unshift({ name: 'database pool', run: () => db.close() });
    const access = accessSettings(config);
    const api = await listenApi(db, log, config.HOST, config.PORT, { access, settings: settingsOf(config), maxConnections: config.API_MAX_CONNECTIONS });
    steps.unshift({ name: 'http server', run: () => api.close() });

    // The pump runs in-process and never shares the API's pool.
    const { startPump } = await import('../../pump/index.ts');
    const pump = await startPump(pumpConfig(config, services), createLogger(config.LOG_LEVEL, { component: 'pump' }));
    steps.unshift({ name: 'pump', run: () => pump.stop() });
    // A pump that cannot go on (e.g. the stream cannot hold our subjects) takes the rest down.
    void pump.closed.then((fatal) => fatal && stopAll('pump failed', true));

    process.stdout.write(banner({ url: `http://${config.HOST}:${api.port}`, auth: access.auth }, services));
  } catch (err) {
    // Interrupted by a signal: that shutdown is already running and exits 0.
    if (!(err instanceof StartStoppedError)) process.stderr.write(`statehub start: ${errorText(err)}\n`);
    await stopAll('startup failure', true);
    return 1;
  }
  return new Promise<number>(() => undefined); // runs until a signal
}
