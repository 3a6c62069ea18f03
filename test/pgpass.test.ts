// The embedded database's libpq password file: mode 0600, `:` and `\` escaped, read back intact.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { chmod, writeFile } from 'node:fs/promises';
import { readPassfile, resolveDatabaseUrl, writePassfile } from '../src/pgpass.ts';

describe('pgpass', function () {
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'statehub-pgpass-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  it('escapes : and \\ as libpq reads them, is private to its owner, and reads back the same password', async function () {
    const file = path.join(dir, 'pgpass');
    await writePassfile(file, 'statehub', 'statehub', 'a:b\\c');
    expect(await readFile(file, 'utf8')).to.equal('127.0.0.1:*:statehub:statehub:a\\:b\\\\c\n');
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    expect(await readPassfile(file)).to.equal('a:b\\c');
    expect(await readPassfile(path.join(dir, 'missing'))).to.equal(undefined);
  });

  it('resolves a passfile parameter in a URL by libpq\'s matching rules, leaving other URLs alone', async function () {
    const file = path.join(dir, 'several');
    await writeFile(file, '# comment\nother:*:*:*:nope\n127.0.0.1:5433:app:*:wrong-port\n127.0.0.1:*:app:al\\:ice:p@ss:w/rd\n', { mode: 0o600 });
    const url = `postgres://al%3Aice@127.0.0.1:5432/app?passfile=${file}&sslmode=disable`;
    const resolved = new URL(resolveDatabaseUrl(url));
    expect(decodeURIComponent(resolved.password)).to.equal('p@ss:w/rd');
    expect(resolved.searchParams.get('passfile')).to.equal(null);
    expect(resolved.searchParams.get('sslmode')).to.equal('disable');
    expect(resolveDatabaseUrl('postgres://u:given@127.0.0.1/app?passfile=/nowhere')).to.equal('postgres://u:given@127.0.0.1/app?passfile=/nowhere');
    expect(resolveDatabaseUrl('postgres://u@127.0.0.1/app')).to.equal('postgres://u@127.0.0.1/app');
    expect(() => resolveDatabaseUrl(`postgres://bob@127.0.0.1:5432/app?passfile=${file}`)).to.throw(/no entry for 127\.0\.0\.1:5432:app:bob/);
    expect(() => resolveDatabaseUrl(`postgres://u@h/app?passfile=${path.join(dir, 'missing')}`)).to.throw(/cannot use the password file/);
    await chmod(file, 0o644);
    expect(() => resolveDatabaseUrl(url)).to.throw(/others may read it/);
  });
});
