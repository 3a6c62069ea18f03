// `statehub pump`: publishes captured events from the outbox to NATS JetStream until SIGTERM.
import { loadConfig, requireDatabaseUrl } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { startPump } from '../../pump/index.ts';
import { notifySystemdReady } from '../../pump/systemd.ts';
import { handleSignals } from '../../shutdown.ts';

export async function run(_options: object, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  requireDatabaseUrl(config);
  const log = createLogger(config.LOG_LEVEL, { service: 'statehub-pump', pid: process.pid });
  const pump = await startPump(config, log, { onReady: () => notifySystemdReady(log, env) });
  // pump.stop() itself is bounded by PUMP_SHUTDOWN_TIMEOUT; the extra time is a backstop.
  const shutdown = handleSignals(log, config.PUMP_SHUTDOWN_TIMEOUT + 10_000, [{ name: 'pump', run: () => pump.stop() }]);
  const fatal = await pump.closed;
  // A fatal error (e.g. the stream cannot hold our subjects) has stopped the pump: exit 1.
  if (fatal) await shutdown('fatal error', true);
  return new Promise<number>(() => undefined); // a signal's shutdown exits the process
}
