// systemd readiness without native modules: `systemd-notify --ready` run as a child. Its
// message comes from another pid, so the unit needs NotifyAccess=all (--pid names us as main).
import { execFile } from 'node:child_process';
import type { Logger } from '../logger.ts';

/** Tells systemd the pump is ready when it runs under Type=notify; does nothing otherwise. */
export function notifySystemdReady(log: Logger, env: NodeJS.ProcessEnv = process.env): void {
  if (!env.NOTIFY_SOCKET) return;
  execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], { env }, (err) => {
    if (err) log.warn('could not report readiness to systemd (use Type=exec if systemd-notify is missing)', { error: err.message });
    else log.info('reported readiness to systemd');
  });
}
