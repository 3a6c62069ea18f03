// Where the consistency engine may read and what it refuses: WORKPLAN_ROOTS, real paths with
// symlinks followed, the size and count limits, files that are not UTF-8 text or not regular
// files. It never writes to a repo.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import { OperationError } from '../src/operations/errors.ts';
import { noSettings } from '../src/operations/operation.ts';
import { repos } from '../src/operations/repos.ts';
import { syncRepo } from '../src/sync/engine.ts';
import { LIMITS } from '../src/sync/files.ts';
import { useTestDatabase } from './helpers/database.ts';
import { useSyncRepos, workplanText, type SyncRepoFixture } from './helpers/workplans.ts';

describe('consistency engine: what it may read', function () {
  const t = useTestDatabase();
  const repo = useSyncRepos(t);
  const outside = realpathSync(mkdtempSync(path.join(tmpdir(), 'statehub-outside-')));
  after(() => rmSync(outside, { recursive: true, force: true }));
  /** The error a sync fails with: its kind and message. */
  async function refusal(run: Promise<unknown>): Promise<{ kind: string; message: string }> {
    const err = await run.then(() => undefined, (e: unknown) => e);
    expect(err, 'the sync must fail').to.be.instanceOf(OperationError);
    return { kind: (err as OperationError).kind, message: (err as OperationError).message };
  }
  const setPath = (r: SyncRepoFixture, p: string | null) => t.db.query('UPDATE statehub.repos SET local_path = $2 WHERE id = $1', [r.repoId, p]);
  const good = (r: SyncRepoFixture) => workplanText({ title: 'Fine', topic: r.topic }, ['- [ ] T01 Task']);

  it('with WORKPLAN_ROOTS unset, sync is refused with how to enable it', async function () {
    const r = await repo();
    expect(await refusal(syncRepo(t.db, noSettings, r.slug, { dryRun: true, prune: false }))).to.deep.equal({
      kind: 'conflict',
      message: 'sync is off on this hub: set WORKPLAN_ROOTS to the directories it may read workplan files from (colon-separated) and restart it',
    });
  });

  it('refuses a repo without local_path, a relative or missing one, and one outside the roots, with ".." or through a symlink', async function () {
    const r = await repo();
    expect(await refusal(syncRepo(t.db, r.settings, 'no-such-repo', { dryRun: true, prune: false }))).to.deep.equal({ kind: 'not_found', message: 'repo no-such-repo does not exist' });
    const cases: Array<[string | null, string]> = [
      [null, `repo ${r.slug} has no local_path: set it to the repo's checkout on the hub's host (PATCH /repos/${r.slug})`],
      ['relative/path', `the local_path of repo ${r.slug} is not an absolute path`],
      [path.join(r.root, 'nowhere'), `the local_path of repo ${r.slug} does not exist on the hub's host`],
      [outside, `the local_path of repo ${r.slug} is outside WORKPLAN_ROOTS`],
      [path.join(r.dir, '..', '..', path.basename(outside)), `the local_path of repo ${r.slug} is outside WORKPLAN_ROOTS`],
    ];
    symlinkSync(outside, path.join(r.root, 'link-out'));
    cases.push([path.join(r.root, 'link-out'), `the local_path of repo ${r.slug} is outside WORKPLAN_ROOTS`]);
    // A regular file where the checkout should be, and a path that runs through one (ENOTDIR).
    writeFileSync(path.join(r.root, 'a-file'), 'not a checkout');
    cases.push([path.join(r.root, 'a-file'), `the local_path of repo ${r.slug}, ${path.join(r.root, 'a-file')}, is not a directory: set it to the repo's checkout`]);
    cases.push([path.join(r.root, 'a-file', 'repo'), `the local_path of repo ${r.slug} does not exist on the hub's host`]);
    // A root that is a prefix of the path but not its parent: /tmp/x-1 is not inside /tmp/x.
    mkdirSync(`${r.root}-sibling/workplans`, { recursive: true });
    cases.push([`${r.root}-sibling`, `the local_path of repo ${r.slug} is outside WORKPLAN_ROOTS`]);
    for (const [p, message] of cases) {
      await setPath(r, p);
      expect(await refusal(r.sync()), String(p)).to.deep.equal({ kind: 'conflict', message });
    }
    rmSync(`${r.root}-sibling`, { recursive: true, force: true });
  });

  it('follows symlinks inside the roots, and refuses a workplans/ folder or a file that links out', async function () {
    const r = await repo();
    // The root named through a symlink, and the checkout reached through one: both resolve inside.
    symlinkSync(r.root, path.join(outside, 'root-alias'));
    symlinkSync(r.dir, path.join(r.root, 'checkout-alias'));
    await setPath(r, path.join(r.root, 'checkout-alias'));
    r.write('IN-1.md', workplanText({ id: 'IN-1', title: 'Fine', topic: r.topic }));
    writeFileSync(path.join(outside, 'OUT-1.md'), good(r));
    symlinkSync(path.join(outside, 'OUT-1.md'), path.join(r.dir, 'workplans', 'OUT-1.md'));
    symlinkSync(path.join(r.dir, 'workplans', 'IN-1.md'), path.join(r.dir, 'workplans', 'ALIAS-2.md'));
    symlinkSync(path.join(r.dir, 'nothing.md'), path.join(r.dir, 'workplans', 'DANGLING-3.md'));
    const report = await syncRepo(t.db, { ...noSettings, workplanRoots: [path.join(outside, 'root-alias')] }, r.slug, { dryRun: false, prune: false });
    expect(report.files.map((f) => [f.path, f.outcome, f.errors])).to.deep.equal([
      // A link to a file of the folder is a second file declaring the same id; the first by name keeps it.
      ['workplans/ALIAS-2.md', 'created', []],
      ['workplans/DANGLING-3.md', 'invalid', [{ line: null, message: 'the file is a link to nothing, or was removed while the sync read it' }]],
      ['workplans/IN-1.md', 'invalid', [{ line: 2, message: 'IN-1 is also the id of workplans/ALIAS-2.md: each workplan needs its own id' }]],
      ['workplans/OUT-1.md', 'invalid', [{ line: null, message: 'the file links outside WORKPLAN_ROOTS' }]],
    ]);
    rmSync(path.join(r.dir, 'workplans'), { recursive: true });
    symlinkSync(outside, path.join(r.dir, 'workplans'));
    expect(await refusal(r.sync())).to.deep.equal({ kind: 'conflict', message: 'workplans/ links outside WORKPLAN_ROOTS' });
  });

  it('refuses a file with more than one hard link: its other name may be outside the roots', async function () {
    const r = await repo();
    writeFileSync(path.join(outside, 'SECRET-1.md'), good(r));
    linkSync(path.join(outside, 'SECRET-1.md'), path.join(r.dir, 'workplans', 'SECRET-1.md'));
    r.write('TWICE-2.md', good(r));
    linkSync(path.join(r.dir, 'workplans', 'TWICE-2.md'), path.join(r.dir, 'workplans', 'TWICE-3.md'));
    r.write('ONCE-4.md', good(r));
    const report = await r.sync();
    const refused = (n: number) => [{ line: null, message: `the file has ${n} hard links: the hub reads only files with one, as another could be outside WORKPLAN_ROOTS` }];
    expect(report.files.map((f) => [f.path, f.outcome, f.errors])).to.deep.equal([
      ['workplans/ONCE-4.md', 'created', []],
      ['workplans/SECRET-1.md', 'invalid', refused(2)],
      ['workplans/TWICE-2.md', 'invalid', refused(2)],
      ['workplans/TWICE-3.md', 'invalid', refused(2)],
    ]);
    expect((await t.db.query("SELECT 1 FROM statehub.workstreams WHERE slug = 'secret-1'")).rowCount, 'nothing of the outside file is synced').to.equal(0);
  });

  it('refuses files over 1 MiB, over 2,000 files, files that are not UTF-8 text, FIFOs and directories; ignores other names', async function () {
    const r = await repo();
    r.write('BIG-1.md', good(r) + `\n${'x'.repeat(LIMITS.fileBytes)}\n`);
    writeFileSync(path.join(r.dir, 'workplans', 'LATIN-2.md'), Buffer.concat([Buffer.from(good(r)), Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    execFileSync('mkfifo', [path.join(r.dir, 'workplans', 'FIFO-3.md')]);
    mkdirSync(path.join(r.dir, 'workplans', 'DIR-4.md'));
    r.write('.HIDDEN-5.md', good(r));
    r.write('NOTES-6.txt', good(r));
    mkdirSync(path.join(r.dir, 'workplans', 'archive'));
    writeFileSync(path.join(r.dir, 'workplans', 'archive', 'OLD-7.md'), good(r));
    r.write('BOM-8.md', `\uFEFF${good(r)}`);
    const socket = createServer();
    await new Promise<void>((done) => socket.listen(path.join(r.dir, 'workplans', 'SOCK-9.md'), done));
    const report = await r.sync().finally(() => socket.close());
    expect(report.files.map((f) => [f.path, f.outcome, f.errors])).to.deep.equal([
      ['workplans/BIG-1.md', 'invalid', [{ line: null, message: 'the file is larger than 1 MiB' }]],
      ['workplans/BOM-8.md', 'created', []],
      ['workplans/DIR-4.md', 'invalid', [{ line: null, message: 'this is a directory, not a workplan file' }]],
      ['workplans/FIFO-3.md', 'invalid', [{ line: null, message: 'the file is not a regular file' }]],
      ['workplans/LATIN-2.md', 'invalid', [{ line: 9, message: 'the file is not UTF-8 text' }]],
      ['workplans/SOCK-9.md', 'invalid', [{ line: null, message: 'the file is not a regular file' }]],
    ]);

    const many = await repo();
    for (let i = 0; i <= LIMITS.files; i++) writeFileSync(path.join(many.dir, 'workplans', `M-${i}.md`), '');
    expect(await refusal(many.sync())).to.deep.equal({ kind: 'too_large', message: `workplans/ holds more than ${LIMITS.files} .md files; a repo may have at most ${LIMITS.files}` });
  });

  it('a repo without a workplans/ folder has nothing to sync; registering a repo never reads its path', async function () {
    const r = await repo();
    rmSync(path.join(r.dir, 'workplans'), { recursive: true });
    expect((await r.sync()).files).to.deep.equal([]);
    // A FIFO as local_path would hang anything that opened it.
    execFileSync('mkfifo', [path.join(r.root, 'fifo-repo')]);
    const domainSlug = (await t.db.query('SELECT d.slug FROM statehub.repos r JOIN statehub.domains d ON d.id = r.domain_id WHERE r.id = $1', [r.repoId])).rows[0]!.slug;
    const created = (await repos.create.run({ slug: `${r.slug}-fifo`, domain_slug: domainSlug, local_path: path.join(r.root, 'fifo-repo') }, t.db, noSettings)) as { local_path: string };
    expect(created.local_path).to.equal(path.join(r.root, 'fifo-repo'));
  });

  it('never writes to the repo: every file and its modification time are as before', async function () {
    const r = await repo();
    r.write('RO-1.md', good(r));
    r.write('RO-2.md', workplanText({ title: 'Bad', status: 'nope', topic: r.topic }));
    const fingerprint = () =>
      readdirSync(r.dir, { recursive: true })
        .map(String)
        .sort()
        .map((f) => {
          const p = path.join(r.dir, f);
          const st = statSync(p);
          return `${f} ${st.mtimeMs} ${st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : 'dir'}`;
        });
    const before = fingerprint();
    const dirMtime = statSync(path.join(r.dir, 'workplans')).mtimeMs;
    await r.sync();
    await r.sync({ prune: true });
    expect(fingerprint()).to.deep.equal(before);
    expect(statSync(path.join(r.dir, 'workplans')).mtimeMs).to.equal(dirMtime);
  });
});
