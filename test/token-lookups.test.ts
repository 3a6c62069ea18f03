// How the API looks tokens up (src/api/token-lookups.ts), against the real authenticate_token():
// answers reused for the cache interval, unknown ones too, few lookups at once, errors not kept.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { TokenLookups } from '../src/api/token-lookups.ts';
import { createToken, findToken, secretHash } from '../src/tokens.ts';
import { useTestDatabase } from './helpers/database.ts';

describe('token lookups', function () {
  this.timeout(30_000);
  const t = useTestDatabase();

  /** findToken on the test database, counting calls and the most running at once. */
  function countedFind() {
    const seen = { calls: 0, running: 0, most: 0, fail: false };
    const find = async (hash: Buffer) => {
      seen.calls++;
      seen.most = Math.max(seen.most, ++seen.running);
      try {
        if (seen.fail) throw new Error('connection terminated');
        return await findToken(t.db, hash);
      } finally {
        seen.running--;
      }
    };
    return { seen, find };
  }

  it('a flood of made-up tokens runs at most 4 lookups at once, and a known token stays remembered', async () => {
    const { seen, find } = countedFind();
    const lookups = new TokenLookups(find, 60_000);
    const known = secretHash((await createToken(t.db, { name: 'known', scope: 'read' })).secret);
    expect(await lookups.get(known)).to.include({ name: 'known' });
    const flood = Array.from({ length: 300 }, () => lookups.get(randomBytes(32)));
    expect(await Promise.all(flood)).to.deep.equal(Array(300).fill(undefined));
    expect(seen.most).to.be.at.most(4);
    const calls = seen.calls;
    expect(await lookups.get(known)).to.include({ name: 'known' });
    expect(seen.calls).to.equal(calls);
  });

  it('an unknown token is looked up once per interval; concurrent requests share one lookup', async () => {
    const { seen, find } = countedFind();
    const lookups = new TokenLookups(find, 200);
    const hash = randomBytes(32);
    await Promise.all([lookups.get(hash), lookups.get(hash), lookups.get(hash)]);
    await lookups.get(hash);
    expect(seen.calls).to.equal(1);
    await new Promise((r) => setTimeout(r, 250));
    await lookups.get(hash);
    expect(seen.calls).to.equal(2);
  });

  it('a failed lookup is not remembered: the next request asks the database again', async () => {
    const { seen, find } = countedFind();
    const lookups = new TokenLookups(find, 60_000);
    const hash = secretHash((await createToken(t.db, { name: 'flaky', scope: 'write' })).secret);
    seen.fail = true;
    const err = await lookups.get(hash).then(() => undefined, (e: Error) => e);
    expect(err?.message).to.equal('connection terminated');
    seen.fail = false;
    expect(await lookups.get(hash)).to.include({ name: 'flaky', scope: 'write' });
    expect(seen.calls).to.equal(2);
  });
});
