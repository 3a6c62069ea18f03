// statehub api: serve the HTTP API on HOST:PORT against DATABASE_URL.
import { loadConfig, requireDatabaseUrl } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { accessSettings } from '../../api/access.ts';
import { createApiDb, listenApi } from '../../api/server.ts';
import { handleSignals } from '../../shutdown.ts';
import { settingsOf } from '../../operations/operation.ts';

export async function run(_options: object, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const log = createLogger(config.LOG_LEVEL, { component: 'api' });
  const db = createApiDb(config, requireDatabaseUrl(config), log);
  const api = await listenApi(db, log, config.HOST, config.PORT, { access: accessSettings(config), settings: settingsOf(config), maxConnections: config.API_MAX_CONNECTIONS });
  handleSignals(log, 15_000, [
    { name: 'http server', run: () => api.close() },
    { name: 'database pool', run: () => db.close() },
  ]);
  return new Promise<number>(() => undefined); // runs until a signal
}
