// NATS .creds files for tests, in a temporary directory: one well formed (a JWT-shaped token and
// a real nkey seed; no server would accept it, the tests only need it to parse) and the broken
// kinds an operator ends up with.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nkeys } from 'nats';

export interface CredsFiles {
  dir: string;
  valid: string;
  /** Does not exist. */
  missing: string;
  /** Text without the two blocks. */
  malformed: string;
  /** Both blocks, but the seed's checksum is wrong. */
  badSeed: string;
  /** Both blocks, but the JWT block holds no JWT. */
  noJwt: string;
  remove(): void;
}

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

function credsText(jwt: string, seed: string): string {
  return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
    `************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\n\n` +
    `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
}

export function writeCredsFiles(): CredsFiles {
  const dir = mkdtempSync(path.join(tmpdir(), 'statehub-creds-'));
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const jwt = `${base64url({ typ: 'JWT', alg: 'ed25519-nkey' })}.${base64url({ sub: user.getPublicKey() })}.c2lnbmF0dXJl`;
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  return {
    dir,
    valid: file('valid.creds', credsText(jwt, seed)),
    missing: path.join(dir, 'missing.creds'),
    malformed: file('malformed.creds', 'user=statehub\npassword=secret\n'),
    badSeed: file('bad-seed.creds', credsText(jwt, `${seed.slice(0, -4)}AAAA`)),
    noJwt: file('no-jwt.creds', credsText('paste the JWT here', seed)),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
