// What `statehub start` prints: where things listen, never a password.
import { expect } from 'chai';
import { banner } from '../src/start/banner.ts';

describe('statehub start banner', function () {
  const api = { url: 'http://127.0.0.1:8000', auth: 'none' as const };

  it('names the MCP endpoint next to the API', function () {
    const text = banner(api, { databaseUrl: 'postgres://app@db/statehub', nats: { kind: 'none' } });
    expect(text).to.include('  MCP       http://127.0.0.1:8000/mcp  (tools for AI agents: docs/mcp.md)');
  });

  it('redacts the credentials of a configured NATS_URL and DATABASE_URL', function () {
    const text = banner(api, {
      databaseUrl: 'postgres://app:pg-secret@db.example:5432/statehub',
      nats: { kind: 'configured', url: 'nats://alice:s3cr3t@nats.example:4222' },
    });
    expect(text).to.include('nats://***@nats.example:4222').and.include('postgres://app:***@db.example:5432/statehub');
    expect(text).not.to.include('s3cr3t');
    expect(text).not.to.include('pg-secret');
  });

  it('redacts a password given as a URL parameter, and a NATS password holding @ or /, whole', function () {
    const text = banner(api, {
      databaseUrl: 'postgres://app@db.example/statehub?sslmode=require&password=pg-secret&sslpassword=key-secret',
      nats: { kind: 'configured', url: 'nats://alice:s3@cr/3t@nats-1.example:4222, nats://tok@en-secret@nats-2.example:4222' },
    });
    expect(text).to.include('postgres://app@db.example/statehub?sslmode=require&password=***&sslpassword=***');
    expect(text).to.include('nats://***@nats-1.example:4222, nats://***@nats-2.example:4222');
    // Each piece of each secret ('tok' alone would match the banner's word "tokens").
    for (const piece of ['pg-secret', 'key-secret', 's3@', 'cr/3t', 'tok@', 'en-secret']) expect(text).not.to.include(piece);
  });

  it('without NATS_URL and without nats-server, says how to get one and that events wait in the outbox', function () {
    const text = banner(api, { databaseUrl: 'postgres://app@db/statehub', nats: { kind: 'none' } });
    expect(text).to.match(/NATS\s+none: events wait in the outbox \(to publish them: apt-get install nats-server, or set NATS_URL\)/);
  });

  it('says whether the API takes tokens, and how to make one for the embedded database', function () {
    const services = { databaseUrl: 'postgres://app@db/statehub', nats: { kind: 'none' as const } };
    expect(banner(api, services)).to.match(/auth\s+none: loopback host names only/);
    const embedded = { url: 'postgres://statehub:pw@127.0.0.1:5555/statehub', psqlUrl: 'postgres://statehub@127.0.0.1:5555/statehub?passfile=/d/pgpass', port: 5555, dataDir: '/d/pg' };
    const text = banner({ url: 'http://0.0.0.0:8000', auth: 'token' }, { ...services, embedded }, 'statehub');
    expect(text).to.include(`DATABASE_URL='postgres://statehub@127.0.0.1:5555/statehub?passfile=/d/pgpass' statehub token create --name me --scope write`);
    expect(text).not.to.include(':pw@');
  });
});
