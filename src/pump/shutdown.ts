// Signals for `statehub pump`: the first SIGTERM/SIGINT stops the pump gracefully (bounded by
// PUMP_SHUTDOWN_TIMEOUT), a second one exits at once.
import type { Logger } from '../logger.ts';
import type { PumpHandle } from './pump.ts';

/** Resolves with the exit code once the pump has stopped: 0 after a signal, 1 after a fatal error. */
export function runUntilSignal(pump: PumpHandle, log: Logger, shutdownTimeoutMs: number): Promise<number> {
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        log.warn('second signal: exiting without waiting', { signal });
        process.exit(1);
      }
      signalled = true;
      log.info('signal received: shutting down', { signal });
      // Backstop in case something hangs past the graceful bound.
      setTimeout(() => {
        log.error('shutdown did not finish in time: exiting');
        process.exit(1);
      }, shutdownTimeoutMs + 10_000).unref();
      void pump.stop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    void pump.closed.then((fatal) => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(fatal ? 1 : 0);
    });
  });
}
