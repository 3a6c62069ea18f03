import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CONFIG_KEYS, ConfigError, loadConfig, parseDuration, requireDatabaseUrl } from '../src/config.ts';

describe('config', () => {
  it('has defaults for everything but the connection URLs', () => {
    const c = loadConfig({});
    expect(c).to.include({ HOST: '127.0.0.1', PORT: 8000, LOG_LEVEL: 'info', STREAM_NAME: 'ACTIVITY_EVENTS', PUMP_METRICS_PORT: 9464 });
    expect(c.PUMP_POLL_INTERVAL).to.equal(5000);
    expect(c.OUTBOX_RETENTION).to.equal(30 * 86_400_000);
    expect(c.DATABASE_URL).to.equal(undefined);
    expect(c.NATS_URL).to.equal(undefined);
  });

  it('treats empty strings as unset, as systemd environment files write them', () => {
    expect(loadConfig({ NATS_URL: '', PORT: '' }).PORT).to.equal(8000);
  });

  it('refuses a malformed DATABASE_URL with one line naming the variable', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).to.throw(ConfigError, /^invalid configuration: DATABASE_URL: expected a postgres/);
    expect(() => requireDatabaseUrl(loadConfig({}))).to.throw(ConfigError, /DATABASE_URL is not set/);
  });

  it('names every bad key at once', () => {
    try {
      loadConfig({ PORT: '70000', PUMP_POLL_INTERVAL: 'soon', LOG_LEVEL: 'loud' });
      expect.fail('should have thrown');
    } catch (err) {
      expect((err as Error).message).to.match(/PORT/).and.match(/PUMP_POLL_INTERVAL/).and.match(/LOG_LEVEL/);
    }
  });

  it('parses durations', () => {
    expect(parseDuration('30d')).to.equal(30 * 86_400_000);
    expect(parseDuration('250ms')).to.equal(250);
    expect(parseDuration('2 h')).to.equal(7_200_000);
    expect(parseDuration('5 parsecs')).to.equal(undefined);
  });

  it('the CLI prints one line and exits 2 on bad config, without a stack trace', () => {
    const r = spawnSync(process.execPath, ['bin/statehub.js', 'api'], { env: { PATH: process.env.PATH, DATABASE_URL: 'nonsense' }, encoding: 'utf8' });
    expect(r.status).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^statehub: invalid configuration: DATABASE_URL/);
  });

  it('the CLI refuses an unknown command with usage and exit 2', () => {
    const r = spawnSync(process.execPath, ['bin/statehub.js', 'frobnicate'], { encoding: 'utf8' });
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/unknown command "frobnicate"/);
  });

  it('the README configuration table lists every variable loadConfig reads', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Verify end to end'));
    const documented = new Set([...table.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]));
    expect(CONFIG_KEYS.filter((k) => !documented.has(k))).to.deep.equal([]);
  });
});
