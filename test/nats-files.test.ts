// NATS_CREDS_FILE and NATS_TLS_* are read and checked before any connection: a file that is
// missing, unreadable or not a .creds file is bad configuration, not a connect error to retry.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../src/config.ts';
import { readNatsFiles } from '../src/pump/nats.ts';
import { writeCredsFiles, type CredsFiles } from './helpers/creds.ts';

describe('NATS credential and TLS files', () => {
  let creds: CredsFiles;
  before(() => (creds = writeCredsFiles()));
  after(() => creds.remove());

  const read = (env: Record<string, string>) => () => readNatsFiles(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', ...env }));

  it('reads a .creds file with a JWT and a valid nkey seed', () => {
    expect(read({ NATS_CREDS_FILE: creds.valid })().creds).to.be.instanceOf(Uint8Array);
  });

  it('refuses a missing or unreadable .creds file with one line naming NATS_CREDS_FILE', () => {
    expect(read({ NATS_CREDS_FILE: creds.missing })).to.throw(ConfigError, /^invalid configuration: NATS_CREDS_FILE: cannot read .*missing\.creds: ENOENT$/);
    expect(read({ NATS_CREDS_FILE: creds.dir })).to.throw(ConfigError, /^invalid configuration: NATS_CREDS_FILE: cannot read .*: EISDIR$/);
  });

  it('refuses a file without the JWT and seed blocks, a bad seed, and a JWT block without a JWT', () => {
    const cases: Array<[string, RegExp]> = [
      [creds.malformed, /no JWT and seed blocks found$/],
      [creds.badSeed, /nkeys: invalid checksum$/],
      [creds.noJwt, /its JWT block holds no JWT$/],
    ];
    for (const [file, why] of cases) {
      expect(read({ NATS_CREDS_FILE: file }), file).to.throw(ConfigError, /^invalid configuration: NATS_CREDS_FILE: .* is not a NATS \.creds file/);
      expect(read({ NATS_CREDS_FILE: file }), file).to.throw(why);
    }
  });

  it('reads the TLS files as text, and names the variable of a missing one', () => {
    expect(read({ NATS_TLS_CA: creds.valid })().tls).to.deep.equal({ ca: readFileSync(creds.valid, 'utf8') });
    expect(read({ NATS_TLS_CA: creds.valid, NATS_TLS_KEY: creds.missing })).to.throw(ConfigError, /^invalid configuration: NATS_TLS_KEY: cannot read .*: ENOENT$/);
    expect(read({ NATS_TLS_CERT: creds.dir })).to.throw(ConfigError, /NATS_TLS_CERT: cannot read .*: EISDIR$/);
  });
});
