// PUMP_METRICS_TOKEN on a real `statehub pump` (no NATS: readiness is 'standby', nothing else
// is needed): /readyz and /metrics want the bearer token, /healthz never does, the token is
// never logged, and a pump whose metrics are open to the network says so at start.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { useTestDatabase } from './helpers/database.ts';
import { delay, metricsPortOf, probe, spawnPump, waitFor, type PumpProcess } from './helpers/pump.ts';

const OPEN_WARNING = 'pump metrics are open to the network';

describe('pump metrics: PUMP_METRICS_TOKEN', function () {
  const children: PumpProcess[] = [];
  afterEach(async function () {
    for (const c of children.splice(0)) {
      c.kill('SIGTERM');
      await c.exited;
    }
  });
  const t = useTestDatabase();

  async function pump(env: Record<string, string>): Promise<{ p: PumpProcess; port: number }> {
    const p = spawnPump({ DATABASE_URL: t.url, LOG_LEVEL: 'debug', ...env });
    children.push(p);
    const port = await metricsPortOf(p);
    // Listening is logged before the warning; 'pump ready' comes once the listener connected.
    await waitFor('the pump to be ready', () => p.output().includes('"pump ready"'), 20_000);
    return { p, port };
  }

  it('with a token: /readyz and /metrics answer 401 without it and with a wrong one, 200 with it; /healthz stays open', async function () {
    const token = randomBytes(24).toString('hex');
    const { p, port } = await pump({ PUMP_METRICS_TOKEN: token });
    for (const path of ['/readyz', '/metrics']) {
      const none = await probe(port, path);
      expect(none, `${path} without a token`).to.deep.include({ status: 401, challenge: 'Bearer realm="state-hub-pump"' });
      expect(none.body).to.equal('unauthorized\n');
      for (const headers of [{ authorization: `Bearer ${token}x` }, { authorization: `Bearer ${token.slice(1)}` }, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${token} extra` }, { authorization: `Bearer\t${token}` }]) {
        const wrong = await probe(port, path, headers);
        expect(wrong, `${path} with ${headers.authorization}`).to.deep.include({ status: 401, challenge: 'Bearer realm="state-hub-pump", error="invalid_token"' });
      }
      // Another scheme is no bearer token at all.
      expect(await probe(port, path, { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` })).to.deep.include({
        status: 401,
        challenge: 'Bearer realm="state-hub-pump"',
      });
      expect((await probe(port, path, { authorization: `Bearer ${token}` })).status, `${path} with the token`).to.equal(200);
      // The scheme is case-insensitive (RFC 7235), as Prometheus and curl may send it either way.
      expect((await probe(port, path, { authorization: `bearer ${token}` })).status).to.equal(200);
    }
    expect(await probe(port, '/readyz', { authorization: `Bearer ${token}` })).to.deep.include({ body: 'standby (NATS not configured)\n' });
    expect((await probe(port, '/metrics', { authorization: `Bearer ${token}` })).body).to.match(/^statehub_pump_leader 0$/m);
    expect(await probe(port, '/healthz')).to.deep.include({ status: 200, body: 'ok\n' });
    expect(p.output(), 'the token in the log').not.to.include(token);
    expect(p.output()).to.include('"tokenRequired":true');
  });

  it('without a token (the default): everything answers without credentials, and on loopback there is no warning', async function () {
    const { p, port } = await pump({});
    expect((await probe(port, '/readyz')).status).to.equal(200);
    expect((await probe(port, '/metrics')).status).to.equal(200);
    expect((await probe(port, '/healthz')).status).to.equal(200);
    // A stray Authorization header does not matter when no token is configured.
    expect((await probe(port, '/metrics', { authorization: 'Bearer anything' })).status).to.equal(200);
    expect(p.output()).not.to.include(OPEN_WARNING);
  });

  it('PUMP_METRICS_HOST not loopback: warns at start that the metrics are open, unless a token guards them', async function () {
    const open = await pump({ PUMP_METRICS_HOST: '0.0.0.0' });
    const warning = open.p.output().split('\n').find((l) => l.includes(OPEN_WARNING));
    expect(warning, open.p.output()).to.be.a('string');
    expect(JSON.parse(warning!)).to.include({ level: 'warn', host: '0.0.0.0' });

    const token = randomBytes(24).toString('base64url');
    const guarded = await pump({ PUMP_METRICS_HOST: '0.0.0.0', PUMP_METRICS_TOKEN: token });
    expect(guarded.p.output()).not.to.include(OPEN_WARNING);
    expect((await probe(guarded.port, '/metrics')).status).to.equal(401);
    expect(guarded.p.output()).not.to.include(token);
  });

  it('a token shorter than 16 characters: exit 2 with one line naming the key, without the value', async function () {
    const p = spawnPump({ DATABASE_URL: t.url, PUMP_METRICS_TOKEN: 'hunter2hunter' });
    children.push(p);
    expect(await Promise.race([p.exited, delay(10_000).then(() => 'still running after 10 s')]), p.output()).to.equal(2);
    expect(p.output().trim().split('\n')).to.have.length(1);
    expect(p.output()).to.match(/^statehub: invalid configuration: PUMP_METRICS_TOKEN: too short to be a secret: use at least 16 characters/);
    expect(p.output()).not.to.include('hunter2hunter');
  });
});
