import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CONFIG_KEYS, ConfigError, loadConfig, requireDatabaseUrl } from '../src/config.ts';
import { parseDuration } from '../src/durations.ts';

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

  it('refuses durations that are not safe integers instead of rounding them', () => {
    expect(parseDuration('9007199254740991ms')).to.equal(Number.MAX_SAFE_INTEGER);
    expect(parseDuration('9007199254740993ms')).to.equal(undefined);
    expect(parseDuration('99999999999d')).to.equal(undefined);
    expect(parseDuration('1'.repeat(400) + 's')).to.equal(undefined);
  });

  // [key, smallest allowed, largest allowed, just below, just above, the range as the message says it]
  const bounds: Array<[string, string, string, string, string, string]> = [
    ['PUMP_POLL_INTERVAL', '100ms', '1h', '99ms', '3600001ms', 'from 100ms to 1h'],
    ['PUMP_SHUTDOWN_TIMEOUT', '1s', '10m', '999ms', '601s', 'from 1s to 10m'],
    ['OUTBOX_RETENTION', '1h', '3650d', '59m', '3651d', 'from 1h to 3650d'],
  ];
  for (const [key, min, max, below, above, range] of bounds) {
    it(`${key} — accepts ${min} and ${max}, refuses ${below} and ${above} with one line naming the range`, () => {
      const ms = (value: string) => (loadConfig({ [key]: value }) as Record<string, unknown>)[key];
      expect(ms(min)).to.equal(parseDuration(min));
      expect(ms(max)).to.equal(parseDuration(max));
      for (const value of [below, above, '0s', '99999999999d']) {
        expect(() => loadConfig({ [key]: value }), value).to.throw(
          ConfigError,
          new RegExp(`^invalid configuration: ${key}: expected a duration ${range} \\(units ms, s, m, h, d\\), got "${value}"$`),
        );
      }
    });
  }

  it('PUMP_METRICS_TOKEN — optional; refuses fewer than 16 characters or spaces with one line that does not repeat the value', () => {
    expect(loadConfig({}).PUMP_METRICS_TOKEN).to.equal(undefined);
    expect(loadConfig({ PUMP_METRICS_TOKEN: '0123456789abcdef' }).PUMP_METRICS_TOKEN).to.equal('0123456789abcdef');
    const refusals: Array<[string, RegExp]> = [
      ['short-secret', /^invalid configuration: PUMP_METRICS_TOKEN: too short to be a secret: use at least 16 characters/],
      ['a long secret with spaces', /^invalid configuration: PUMP_METRICS_TOKEN: printable ASCII without spaces only/],
    ];
    for (const [value, message] of refusals) {
      expect(() => loadConfig({ PUMP_METRICS_TOKEN: value }), value).to.throw(ConfigError, message);
      try {
        loadConfig({ PUMP_METRICS_TOKEN: value });
      } catch (err) {
        expect((err as Error).message).not.to.include(value);
      }
    }
  });

  it('the CLI exits 2 with one line for a duration past the timer limit (PUMP_POLL_INTERVAL=30d)', () => {
    const r = spawnSync(process.execPath, ['bin/statehub.js', 'pump'], { env: { PATH: process.env.PATH, PUMP_POLL_INTERVAL: '30d' }, encoding: 'utf8' });
    expect(r.status).to.equal(2);
    expect(r.stderr).to.equal('statehub: invalid configuration: PUMP_POLL_INTERVAL: expected a duration from 100ms to 1h (units ms, s, m, h, d), got "30d"\n');
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
