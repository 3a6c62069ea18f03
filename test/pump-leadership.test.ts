// Leadership follows the ability to publish: a pump that cannot reach NATS does not take the
// leader lock, and a leader that loses NATS for long hands it to a standby that can publish.
import { expect } from 'chai';
import { loadConfig } from '../src/config.ts';
import { startPump, type PumpHandle } from '../src/pump/index.ts';
import { leaderLockHolder } from '../src/pump/lock-holder.ts';
import { useTestDatabase } from './helpers/database.ts';
import { capturingLogger } from './helpers/log.ts';
import { freePort, startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { delay, waitFor } from './helpers/pump.ts';

describe('pump leadership and NATS reachability', function () {
  this.timeout(60_000);
  const pumps: PumpHandle[] = [];
  const servers: NatsServer[] = [];
  after(async () => {
    await Promise.all(pumps.map((p) => p.stop()));
    await Promise.all(servers.map((s) => s.close()));
  });
  const t = useTestDatabase();

  const pumpWith = async (natsUrl: string) => {
    const config = loadConfig({ DATABASE_URL: t.url, NATS_URL: natsUrl, PUMP_METRICS_PORT: '0' });
    const { log, lines } = capturingLogger('info');
    const p = await startPump(config, log);
    pumps.push(p);
    return { pump: p, logged: (text: string) => lines.some((l) => l.includes(text)) };
  };

  it('a pump without NATS stays standby; one with NATS leads; a leader that loses NATS steps down for it', async () => {
    const { pump: lonely, logged: lonelyLogged } = await pumpWith(`nats://127.0.0.1:${await freePort()}`);
    // It has tried NATS and failed, and it runs alone: were it to contend, the lock would be its own.
    await waitFor('the lonely pump to find NATS unreachable', () => lonelyLogged('failing; retrying'), 10_000);
    await delay(1500); // its leader election ticks every second meanwhile
    expect(await leaderLockHolder(t.db), 'a pump that cannot publish does not take the lock').to.equal(undefined);
    expect(lonely.isLeader).to.equal(false);

    const natsA = await startNatsServer();
    servers.push(natsA);
    const { pump: a } = await pumpWith(natsA.url);
    await waitFor('the pump with NATS to lead', () => a.isLeader, 10_000);

    const natsB = await startNatsServer();
    servers.push(natsB);
    const { pump: b, logged: bLogged } = await pumpWith(natsB.url);
    // Not a clock: b has reached its NATS, tried for the lock and found a pump holding it.
    await waitFor('b to try for the lock with NATS usable', () => bLogged('standby: another pump holds the leader lock'), 10_000);
    expect(b.readiness()).to.deep.equal({ ready: true, detail: 'standby' });
    expect(b.isLeader, 'one leader at a time').to.equal(false);
    expect(await leaderLockHolder(t.db)).to.deep.include({ pump: true });

    await natsA.stop(); // the leader's NATS goes away
    await waitFor('the standby with NATS to take over', () => b.isLeader, 20_000);
    expect(a.isLeader).to.equal(false);
    expect(lonely.isLeader, 'the lonely pump never led').to.equal(false);
  });
});
