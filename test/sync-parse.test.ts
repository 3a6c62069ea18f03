// The workplan file format (docs/workplans.md): what the parser reads, and every problem it
// reports with the line it is on.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { idFromFileName, MAX_TASKS, parseWorkplan, type Problem } from '../src/sync/parse.ts';

const problems = (text: string, file = 'notes.md'): Problem[] => parseWorkplan(file, text).problems;
const front = (lines: string[], body = '') => `---\n${lines.join('\n')}\n---\n${body}`;

describe('workplan files: the parser', function () {
  it('reads the example of docs/workplans.md', function () {
    const doc = readFileSync(new URL('../docs/workplans.md', import.meta.url), 'utf8');
    const example = /```markdown\n([\s\S]*?)```/.exec(doc)![1]!;
    const parsed = parseWorkplan('CUST-WP-0040-nats.md', example);
    expect(parsed.problems).to.deep.equal([]);
    expect(parsed.workplan).to.deep.include({ id: 'CUST-WP-0040', title: 'NATS lifecycle events for activity-core', status: 'active', topic: 'events', repoGoal: 12 });
    expect(parsed.workplan!.tasks.map((t) => [t.key, t.status, t.title, t.line])).to.deep.equal([
      ['T01', 'done', 'Write the event catalog', 13],
      ['T02', 'in_progress', 'Capture transitions in triggers', 14],
      ['T03', 'blocked', 'Pump to JetStream', 15],
      ['T04', 'todo', 'Consumer contract', 16],
      ['T05', 'cancelled', 'Dropped idea', 17],
    ]);
  });

  it('takes the id from the file name, the title from the first # heading and planned as the status when the front matter has none', function () {
    const parsed = parseWorkplan('OPS-WP-7-rotate-keys.md', front(['topic: ops'], '\n# Rotate the keys\n\n## Tasks\n- [X] T1 Upper-case x is done too\n'));
    expect(parsed.problems).to.deep.equal([]);
    expect(parsed.workplan).to.deep.include({ id: 'OPS-WP-7', title: 'Rotate the keys', status: 'planned', repoGoal: null });
    expect(parsed.workplan!.tasks).to.deep.equal([{ key: 'T1', title: 'Upper-case x is done too', status: 'done', line: 8 }]);
    expect(idFromFileName('CUST-WP-0040-2-notes.md')).to.equal('CUST-WP-0040-2');
    expect(idFromFileName('CUST-WP-0040.md')).to.equal('CUST-WP-0040');
    expect(idFromFileName('CUST-WP-0040x.md')).to.equal(null);
    expect(idFromFileName('notes.md')).to.equal(null);
  });

  it('only list items with a box under "## Tasks" are tasks: other sections, items without a box, links and code blocks are ignored', function () {
    const text = front(['id: A-1', 'title: T', 'topic: t'], [
      '- [ ] T90 before the section: ignored',
      '## Tasks',
      '- [ ] T01 one',
      '* [/] T02 star bullet',
      '  + [!] T03 indented plus bullet',
      '- a note without a box',
      '- [x](https://example.com) a link, not a box',
      '### Later',
      '- [ ] T04 still tasks under a level-3 heading',
      '```',
      '- [?] T99 inside a code block',
      '## Tasks in the code block do not start a section',
      '```',
      '- [ ] T05 after the fence',
      '## Notes',
      '- [ ] T06 another section: ignored',
    ].join('\n'));
    const parsed = parseWorkplan('A-1.md', text);
    expect(parsed.problems).to.deep.equal([]);
    expect(parsed.workplan!.tasks.map((t) => `${t.key}:${t.status}:${t.line}`)).to.deep.equal(['T01:todo:8', 'T02:in_progress:9', 'T03:blocked:10', 'T04:todo:14', 'T05:todo:19']);
  });

  it('reports each problem with its line', function () {
    const cases: Array<[string, string, Problem[], string?]> = [
      ['bad YAML', front(['id: A-1', 'title: [unclosed', 'topic: t']), [{ line: 4, message: 'front matter is not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]' }]],
      ['duplicate front-matter key', front(['id: A-1', 'id: A-2', 'title: T', 'topic: t']), [{ line: 3, message: 'the front matter gives "id" twice: first on line 2' }]],
      ['front matter never closed', '---\nid: A-1\n', [{ line: 1, message: 'the front matter that starts here is never closed with a --- line' }]],
      ['front matter not a mapping', front(['- a', '- b']), [{ line: 2, message: 'front matter must be "key: value" lines' }]],
      ['missing id', front(['title: T', 'topic: t']), [{ line: 1, message: 'id is missing: give "id: CUST-WP-0040" in the front matter, or start the file name with the id' }]],
      ['an id from a file name that is too long', front(['title: T', 'topic: t']), [{ line: 1, message: 'the id the file name gives is longer than 100 characters: give a shorter "id:" in the front matter' }], `A${'B'.repeat(100)}-1-notes.md`],
      ['invalid id', front(['title: T', 'topic: t', 'id: cust-wp-1']), [{ line: 4, message: 'id must look like CUST-WP-0040: capital letters and digits in dash-separated parts, ending in -<number>' }]],
      ['id that is a number', front(['id: 12', 'title: T', 'topic: t']), [{ line: 2, message: 'id must look like CUST-WP-0040: capital letters and digits in dash-separated parts, ending in -<number>' }]],
      ['unknown status', front(['id: A-1', 'title: T', 'status: doing', 'topic: t']), [{ line: 4, message: 'status must be one of planned, active, blocked, completed, cancelled' }]],
      ['missing topic', front(['id: A-1', 'title: T']), [{ line: 1, message: 'topic is missing: give "topic:" with the slug of an existing topic' }]],
      ['bad topic', front(['id: A-1', 'title: T', 'topic: Not A Slug']), [{ line: 4, message: 'topic must be a topic slug (lowercase letters, digits, ".", "_" or "-")' }]],
      ['bad repo_goal', front(['id: A-1', 'title: T', 'topic: t', 'repo_goal: twelve']), [{ line: 5, message: "repo_goal must be the id of one of this repo's goals (a positive whole number)" }]],
      ['no title at all', front(['id: A-1', 'topic: t']), [{ line: 1, message: 'title is missing: give "title:" in the front matter or a "# " heading' }]],
      ['title too long', front(['id: A-1', `title: ${'x'.repeat(501)}`, 'topic: t']), [{ line: 3, message: 'the title is longer than 500 characters' }]],
      ['a title that is a list', front(['id: A-1', 'title: [a, b]', 'topic: t']), [{ line: 3, message: 'title must be text' }]],
      ['unknown box', front(['id: A-1', 'title: T', 'topic: t'], '## Tasks\n- [ ] T01 fine\n- [?] T02 what\n'), [{ line: 8, message: 'unknown box [?]: use [ ] todo, [/] in progress, [!] blocked, [x] done or [-] cancelled' }]],
      ['task without key', front(['id: A-1', 'title: T', 'topic: t'], '## Tasks\n- [ ]\n'), [{ line: 7, message: 'a task needs a key and a title, as in "- [ ] T01 Write the event catalog"' }]],
      ['bad key', front(['id: A-1', 'title: T', 'topic: t'], '## Tasks\n- [ ] write it\n- [ ] t2 lower case\n'), [
        { line: 7, message: '"write" is not a task key: a key is T and up to 9 digits, as in T01' },
        { line: 8, message: '"t2" is not a task key: a key is T and up to 9 digits, as in T01' },
      ]],
      ['task without title', front(['id: A-1', 'title: T', 'topic: t'], '## Tasks\n- [x] T01\n'), [{ line: 7, message: 'the title of task T01 is empty' }]],
      ['duplicate key', front(['id: A-1', 'title: T', 'topic: t'], '## Tasks\n- [ ] T01 one\n\n- [x] T01 again\n'), [{ line: 9, message: 'task key T01 is already used on line 7' }]],
      ['a NUL character', front(['id: A-1', 'title: T', 'topic: t'], 'text\u0000\n'), [{ line: 6, message: 'the file contains a NUL character: it is not a text file' }]],
      ['several at once, in line order', front(['id: nope', 'title: T', 'status: maybe', 'topic: t'], '## Tasks\n- [~] T01 x\n'), [
        { line: 2, message: 'id must look like CUST-WP-0040: capital letters and digits in dash-separated parts, ending in -<number>' },
        { line: 4, message: 'status must be one of planned, active, blocked, completed, cancelled' },
        { line: 8, message: 'unknown box [~]: use [ ] todo, [/] in progress, [!] blocked, [x] done or [-] cancelled' },
      ]],
    ];
    for (const [name, text, expected, file] of cases) expect(problems(text, file), name).to.deep.equal(expected);
  });

  it('a file with problems yields no workplan, but the id when it could be read', function () {
    const parsed = parseWorkplan('A-1.md', front(['id: A-1', 'title: T', 'topic: t', 'status: doing']));
    expect(parsed.workplan).to.equal(null);
    expect(parsed.id).to.equal('A-1');
  });

  it('reads CRLF line ends, and refuses more than 2,000 tasks at the line of the first one too many', function () {
    const crlf = front(['id: A-1', 'title: T', 'topic: t'], '## Tasks\n- [x] T01 windows\n').replaceAll('\n', '\r\n');
    expect(parseWorkplan('A-1.md', crlf).workplan!.tasks).to.deep.equal([{ key: 'T01', title: 'windows', status: 'done', line: 7 }]);
    const many = Array.from({ length: MAX_TASKS + 1 }, (_, i) => `- [ ] T${i + 1} task ${i + 1}`).join('\n');
    expect(problems(front(['id: A-1', 'title: T', 'topic: t'], `## Tasks\n${many}\n`))).to.deep.equal([{ line: 7 + MAX_TASKS, message: `more than ${MAX_TASKS} tasks: split the workplan` }]);
  });
});
