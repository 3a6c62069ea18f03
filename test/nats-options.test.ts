// Credentials in NATS_URL: nats.js ignores a URL's userinfo (it connects without it), so
// natsOptions takes it out of the server list and sends it as credentials, as the Go client
// and the nats CLI do; NATS_USER, NATS_PASSWORD and NATS_TOKEN, when set, win.
import { expect } from 'chai';
import { loadConfig } from '../src/config.ts';
import { natsOptions } from '../src/pump/nats.ts';

const options = (env: Record<string, string>) => natsOptions(loadConfig(env), {});

describe('natsOptions: credentials in NATS_URL', () => {
  it('user:password@ becomes user and pass; no server URL keeps any userinfo', () => {
    const o = options({ NATS_URL: 'nats://alice:s3cr%40t@n1.example:4222, nats://alice:s3cr%40t@n2.example:4222,n3.example:4222' });
    expect(o.servers).to.deep.equal(['nats://n1.example:4222', 'nats://n2.example:4222', 'n3.example:4222']);
    expect(o).to.include({ user: 'alice', pass: 's3cr@t' });
    expect(o.token).to.equal(undefined);
  });

  it('an @ or : inside the password stays in the password (everything up to the last @ is userinfo)', () => {
    const o = options({ NATS_URL: 'tls://alice:p@ss:w0rd@nats.example:4222' });
    expect(o.servers).to.deep.equal(['tls://nats.example:4222']);
    expect(o).to.include({ user: 'alice', pass: 'p@ss:w0rd' });
  });

  it('token@ becomes the token', () => {
    const o = options({ NATS_URL: 'nats://s3cr3t-token@nats.example:4222' });
    expect(o.servers).to.deep.equal(['nats://nats.example:4222']);
    expect(o).to.include({ token: 's3cr3t-token' });
    expect(o.user).to.equal(undefined);
  });

  it('NATS_USER / NATS_PASSWORD / NATS_TOKEN win over the URL, whose userinfo is still dropped', () => {
    const o = options({ NATS_URL: 'nats://alice:from-url@nats.example:4222', NATS_USER: 'bob', NATS_PASSWORD: 'from-env' });
    expect(o.servers).to.deep.equal(['nats://nats.example:4222']);
    expect(o).to.include({ user: 'bob', pass: 'from-env' });
    const t = options({ NATS_URL: 'nats://alice:from-url@nats.example:4222', NATS_TOKEN: 'env-token' });
    expect(t).to.include({ token: 'env-token' });
    expect(t.user).to.equal(undefined);
  });

  it('a URL without credentials is passed as it is', () => {
    const o = options({ NATS_URL: 'nats://127.0.0.1:4222' });
    expect(o.servers).to.deep.equal(['nats://127.0.0.1:4222']);
    expect(o.user).to.equal(undefined);
    expect(o.token).to.equal(undefined);
  });
});
