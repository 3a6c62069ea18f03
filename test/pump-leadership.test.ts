// Leadership follows the ability to publish: a pump that cannot reach NATS does not take the
// leader lock, and a leader that loses NATS for long hands it to a standby that can publish.
import { expect } from 'chai';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { startPump, type PumpHandle } from '../src/pump/index.ts';
import { useTestDatabase } from './helpers/database.ts';
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
    const p = await startPump(config, silentLogger());
    pumps.push(p);
    return p;
  };

  it('a pump without NATS stays standby; one with NATS leads; a leader that loses NATS steps down for it', async () => {
    const lonely = await pumpWith(`nats://127.0.0.1:${await freePort()}`);
    await delay(2500); // a few lock attempts' worth
    expect(lonely.isLeader, 'a pump that cannot publish does not take the lock').to.equal(false);

    const natsA = await startNatsServer();
    servers.push(natsA);
    const a = await pumpWith(natsA.url);
    await waitFor('the pump with NATS to lead', () => a.isLeader, 10_000);

    const natsB = await startNatsServer();
    servers.push(natsB);
    const b = await pumpWith(natsB.url);
    await delay(1500);
    expect(b.isLeader, 'one leader at a time').to.equal(false);

    await natsA.stop(); // the leader's NATS goes away
    await waitFor('the standby with NATS to take over', () => b.isLeader, 20_000);
    expect(a.isLeader).to.equal(false);
    expect(lonely.isLeader).to.equal(false);
  });
});
