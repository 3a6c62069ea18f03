// A partition between the leader and PostgreSQL: a proxy stops forwarding without closing
// anything, so neither side's TCP stack notices. The leader's lock session is a lease the server
// ends after LEASE_MS of silence, so a standby takes over within the bound; the old leader steps
// down on its own, and the stream holds every event exactly once.
import { expect } from 'chai';
import { connect, type NatsConnection } from 'nats';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { startPump, type PumpHandle } from '../src/pump/index.ts';
import { LEASE_MS } from '../src/pump/leader.ts';
import { useTestDatabase } from './helpers/database.ts';
import { startNatsServer, type NatsServer } from './helpers/nats-server.ts';
import { allDelivered, insertWorkstreamRows, metric, probe, readStream, waitFor } from './helpers/pump.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

/** What docs/operations.md promises for a takeover after a partition of the leader. */
const TAKEOVER_BOUND_MS = 15_000;

describe('pump: the leader partitioned from PostgreSQL', function () {
  this.timeout(90_000);
  let nats: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let proxy: TcpProxy | undefined;
  const pumps: PumpHandle[] = [];
  after(async function () {
    await proxy?.close(); // the cut-off pump's connections fail now, so it can stop
    for (const p of pumps) await p.stop();
    await nc?.close();
    await nats?.close();
  });
  const t = useTestDatabase();

  const pumpOn = async (url: string) => {
    const p = await startPump(loadConfig({ DATABASE_URL: url, NATS_URL: nats!.url, PUMP_METRICS_PORT: '0', PUMP_POLL_INTERVAL: '1m' }), silentLogger());
    pumps.push(p);
    return p;
  };
  const published = async (p: PumpHandle) => metric((await probe(p.metricsPort, '/metrics')).body, 'statehub_pump_published_total') ?? 0;

  it(`a standby publishes within ${TAKEOVER_BOUND_MS / 1000} s, and the stream holds each event once`, async function () {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    const direct = new URL(t.url);
    proxy = await startTcpProxy(Number(direct.port || 5432));
    const viaProxy = new URL(t.url);
    viaProxy.port = String(proxy.port);

    const leader = await pumpOn(viaProxy.toString());
    await waitFor('the first pump to lead', () => leader.isLeader, 10_000);
    const standby = await pumpOn(t.url);
    await waitFor('the standby ready', () => standby.readiness().ready, 10_000);
    expect(standby.isLeader).to.equal(false);

    // Events keep coming before, during and after the partition.
    let writing = true;
    let offset = 0;
    const writer = (async () => {
      while (writing) {
        await insertWorkstreamRows(t.db, 20, 10, offset);
        offset += 20;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await waitFor('the leader publishing', async () => (await published(leader)) > 0, 10_000);

    const cut = Date.now();
    proxy.stall();
    await waitFor('the standby to publish', async () => standby.isLeader && (await published(standby)) > 0, TAKEOVER_BOUND_MS + 5000, 100);
    const takeover = Date.now() - cut;
    expect(takeover, 'takeover after the partition').to.be.below(TAKEOVER_BOUND_MS);
    expect(takeover, 'not before the lease ran out').to.be.above(LEASE_MS - 2000);
    expect(leader.isLeader, 'the cut-off pump stepped down').to.equal(false);

    writing = false;
    await writer;
    await waitFor('every event delivered', () => allDelivered(t.db), 30_000);
    const messages = await readStream(nc);
    const { rows } = await t.db.query<{ event_id: string }>('SELECT event_id FROM statehub.outbox');
    expect(messages.length, 'each event stored once').to.equal(rows.length);
    expect(new Set(messages.map((m) => m.msgId)).size).to.equal(rows.length);
    const stored = new Set(messages.map((m) => m.msgId));
    expect(rows.every((r) => stored.has(r.event_id)), 'none lost').to.equal(true);
  });
});
