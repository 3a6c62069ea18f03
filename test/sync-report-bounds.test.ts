// A sync's report is bounded whatever the repo holds: at most MAX_PER_FILE entries per list of a
// file and MAX_ENTRIES in all, with every list's full count.
import { expect } from 'chai';
import { render } from '../src/cli/commands/sync.ts';
import { MAX_ENTRIES, MAX_PER_FILE, syncReport } from '../src/sync/report.ts';
import { useTestDatabase } from './helpers/database.ts';
import { useSyncRepos, workplanText } from './helpers/workplans.ts';

describe('consistency engine: bounded reports', function () {
  const t = useTestDatabase();
  const repo = useSyncRepos(t);
  /** A file whose every one of `n` task lines is a problem (a key that is no key). */
  const broken = (topic: string, n: number) => workplanText({ title: 'Broken', topic }, Array.from({ length: n }, (_, i) => `- [ ] K${i} not a key`));

  it(`shows at most ${MAX_PER_FILE} entries of each list per file, and counts them all`, async function () {
    const r = await repo();
    r.write('A-1.md', broken(r.topic, MAX_PER_FILE + 50));
    r.write('B-2.md', workplanText({ title: 'Many', topic: r.topic }, Array.from({ length: MAX_PER_FILE * 2 }, (_, i) => `- [x] T${i} task ${i}`)));
    const report = await r.sync({ dryRun: true });
    expect(() => syncReport.parse(report)).to.not.throw();
    const [a, b] = report.files;
    expect(a!.errors).to.have.length(MAX_PER_FILE);
    expect(a!.errors[0]).to.deep.equal({ line: 8, message: '"K0" is not a task key: a key is T and up to 9 digits, as in T01' });
    expect(a!.counts).to.deep.equal({ changes: 0, conflicts: 0, file_behind_hub: 0, errors: MAX_PER_FILE + 50 });
    // A new task that is done is two changes: created, then its status.
    expect(b!.changes).to.have.length(MAX_PER_FILE);
    expect(b!.counts.changes, 'the workstream, then each task and its status').to.equal(1 + MAX_PER_FILE * 2 * 2);
    expect(report.summary).to.include({ files: 2, invalid: 1, created: 1 });
    // statehub sync prints what is shown and how much is not.
    const printed = render(report).split('\n');
    expect(printed).to.include('  workplans/A-1.md: and 50 errors not shown');
    expect(printed).to.include(`  workplans/B-2.md: and ${1 + MAX_PER_FILE * 2 * 2 - MAX_PER_FILE} changes not shown`);
  });

  it(`shows at most ${MAX_ENTRIES} entries in the whole report, the first files first`, async function () {
    const r = await repo();
    const files = MAX_ENTRIES / MAX_PER_FILE + 5;
    for (let i = 1; i <= files; i++) r.write(`F-${String(i).padStart(3, '0')}.md`, broken(r.topic, MAX_PER_FILE + 1));
    const report = await r.sync({ dryRun: true });
    const shown = report.files.map((f) => f.errors.length);
    expect(shown.reduce((a, b) => a + b, 0)).to.equal(MAX_ENTRIES);
    expect(shown.slice(0, MAX_ENTRIES / MAX_PER_FILE).every((n) => n === MAX_PER_FILE)).to.equal(true);
    expect(shown.slice(MAX_ENTRIES / MAX_PER_FILE)).to.deep.equal(Array(5).fill(0));
    expect(report.files.every((f) => f.counts.errors === MAX_PER_FILE + 1)).to.equal(true);
    expect(report.summary.invalid).to.equal(files);
  });
});
