// Whether a bind address keeps a listener on this machine, for the warnings about endpoints open
// to the network (the pump's PUMP_METRICS_HOST, the API's HOST).
import { BlockList, isIP } from 'node:net';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * True for 127.0.0.0/8, ::1 (bracketed or not; an IPv4-mapped ::ffff:127.x.y.z too) and the
 * name localhost. False for everything else, 0.0.0.0 and :: included: any other name may
 * resolve to a public address, so it counts as reachable from the network.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const family = isIP(bare);
  return family !== 0 && loopback.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}
