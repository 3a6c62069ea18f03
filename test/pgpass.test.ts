// The embedded database's libpq password file: mode 0600, `:` and `\` escaped, read back intact.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { readPassfile, writePassfile } from '../src/pgpass.ts';

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
});
