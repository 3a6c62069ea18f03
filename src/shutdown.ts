// One idempotent, time-limited shutdown per process: the first SIGINT/SIGTERM runs the steps
// in order (stop intake, finish in-flight work, close connections); a second signal or the
// time limit forces exit.
import { errorText } from './error-text.ts';
import type { Logger } from './logger.ts';

export type Step = { name: string; run: () => Promise<unknown> };

export function handleSignals(log: Logger, timeoutMs: number, steps: Step[], onDone: (code: number) => void = (c) => process.exit(c)) {
  let stopping: Promise<void> | undefined;

  /**
   * Runs the shutdown once; `failed` makes the exit code 1 (e.g. a start-up failure). Called
   * again while it runs (a start that the shutdown interrupted fails), it just waits.
   */
  const shutdown = (reason: string, failed = false) => {
    if (stopping) return stopping;
    log.info('shutting down', { signal: reason });
    const timer = setTimeout(() => {
      log.error('shutdown timed out: exiting now', { timeoutMs });
      onDone(1);
    }, timeoutMs);
    timer.unref();
    stopping = (async () => {
      // Steps start on a later tick, once `stopping` is set: a step may call shutdown again
      // (closing the MCP server closes its transport, whose close handler shuts down).
      await Promise.resolve();
      let code = failed ? 1 : 0;
      for (const step of steps) {
        try {
          await step.run();
        } catch (err) {
          code = 1;
          log.error('shutdown step failed', { step: step.name, error: errorText(err) });
        }
      }
      clearTimeout(timer);
      log.info('stopped');
      onDone(code);
    })();
    return stopping;
  };

  const onSignal = (signal: string) => {
    if (!stopping) return void shutdown(signal);
    log.warn('second signal: exiting now', { signal });
    onDone(1);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return shutdown;
}
