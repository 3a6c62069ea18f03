// Which host names and addresses stay on this machine.
import { isIP } from 'node:net';

/**
 * Whether host (a HOST setting or a Host header's name) is a loopback address: 127.0.0.0/8,
 * ::1 (bracketed or not, or IPv4-mapped) or localhost. Anything else, 0.0.0.0 and :: included,
 * may be reachable from other machines.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(name);
  const address = mapped ? mapped[1]! : name;
  if (isIP(address) === 4) return address.startsWith('127.');
  // The URL parser writes an IPv6 address in its shortest form.
  return isIP(address) === 6 && new URL(`http://[${address}]`).hostname === '[::1]';
}
