// `statehub pump`: publishes captured events from the outbox to NATS JetStream until SIGTERM.
import { loadConfig, requireDatabaseUrl } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { startPump } from '../../pump/index.ts';
import { notifySystemdReady } from '../../pump/readiness.ts';
import { runUntilSignal } from '../../pump/shutdown.ts';

export async function run(_args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  requireDatabaseUrl(config);
  const log = createLogger(config.LOG_LEVEL, { service: 'statehub-pump', pid: process.pid });
  const pump = await startPump(config, log, { onReady: () => notifySystemdReady(log, env) });
  const code = await runUntilSignal(pump, log, config.PUMP_SHUTDOWN_TIMEOUT);
  // Everything is closed; should a stray handle remain, do not let it keep the process up.
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}
