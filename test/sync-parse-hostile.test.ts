// A workplan file is untrusted input: whoever can commit to a repo can write one. Each reader of
// the parser must take time linear in its input, whatever the input, and say what it refused.
import { expect } from 'chai';
import { MAX_FRONT_MATTER } from '../src/sync/front-matter.ts';
import { idFromFileName, parseWorkplan } from '../src/sync/parse.ts';

const MiB = 1024 * 1024;
/** `unit` repeated to fill about `size` characters. */
const fill = (unit: string, size: number) => unit.repeat(Math.ceil(size / unit.length));
const front = (lines: string[], body = '') => `---\n${lines.join('\n')}\n---\n${body}`;
const valid = ['id: A-1', 'title: T', 'topic: t'];

/** Runs `read` and returns what it gave, failing when it took a second or more. */
function withinASecond<T>(what: string, read: () => T): T {
  const started = performance.now();
  const result = read();
  const ms = performance.now() - started;
  expect(ms, `${what} took ${Math.round(ms)} ms`).to.be.below(1000);
  return result;
}

describe('workplan files: hostile input', function () {
  it('reads a 1 MiB adversarial line for each pattern in well under a second', function () {
    const lines: Array<[string, string]> = [
      ['a heading of blanks ending in a lone CR', `# ${fill(' \t', MiB)}\rx`],
      ['a heading with a long closing run', `## Tasks${fill(' #', MiB)}${fill(' \t', MiB / 4)}`],
      ['a heading of hashes', fill('#', MiB)],
      ['a task line of blanks ending in a lone CR', `- [ ] T1${fill(' \t', MiB)}\rx`],
      ['a task line of blanks and a word', `- [ ] T1${fill(' \tx', MiB)}`],
      ['a task key of a megabyte', `- [ ] ${fill('T1', MiB)}`],
      ['a list item of nested boxes', fill('- [', MiB)],
      ['a fence of a megabyte', fill('`', MiB)],
      ['a front-matter delimiter with trailing blanks', `---${fill(' \t', MiB)}\r`],
    ];
    for (const [what, line] of lines) {
      withinASecond(`${what}, as the first line`, () => parseWorkplan('A-1.md', `${line}\n`));
      withinASecond(`${what}, under ## Tasks`, () => parseWorkplan('A-1.md', front(valid, `## Tasks\n${line}\n`)));
    }
    withinASecond('a file name of id parts', () => idFromFileName(`${fill('A-1', MiB)}x.md`));
    withinASecond('a file name of digits', () => idFromFileName(`A-${fill('1', MiB)}x.md`));
  });

  it('ends lines at CRLF, CR and LF only, as CommonMark and YAML do: U+2028 and U+2029 are text', function () {
    const body = '# The title\n## Tasks\n- [x] T01 one\n- [ ] T02 two\u2028still two\u2029and this\n';
    for (const end of ['\n', '\r\n', '\r']) {
      const parsed = parseWorkplan('A-1.md', front(['id: A-1', 'topic: t'], body).replaceAll('\n', end));
      expect(parsed.problems, JSON.stringify(end)).to.deep.equal([]);
      expect(parsed.workplan!.title).to.equal('The title');
      expect(parsed.workplan!.tasks.map((t) => [t.key, t.title, t.line])).to.deep.equal([
        ['T01', 'one', 7],
        ['T02', 'two\u2028still two\u2029and this', 8],
      ]);
    }
    // A lone CR ends the heading: the text after it is a line of its own, not part of the title.
    expect(parseWorkplan('A-1.md', front(['id: A-1', 'topic: t'], '# Title\rmore\n')).workplan!.title).to.equal('Title');
    // Only spaces and tabs are trimmed, so a title of other white space is still a title.
    expect(parseWorkplan('A-1.md', front(['id: A-1', 'topic: t'], '# \u00a0\n')).workplan!.title).to.equal('\u00a0');
  });

  it('refuses front matter over 64 KiB unread, and finds a duplicate key among thousands in linear time', function () {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `key${i}: value ${i}`);
    const huge = withinASecond('45,000 keys', () => parseWorkplan('A-1.md', front([...valid, ...keys(45_000)])));
    expect(huge.problems).to.deep.equal([{ line: 1, message: `the front matter is longer than ${MAX_FRONT_MATTER / 1024} KiB` }]);
    expect(huge.workplan).to.equal(null);

    const many = keys(3_000);
    expect(front(many).length).to.be.below(MAX_FRONT_MATTER);
    expect(withinASecond('3,000 keys', () => parseWorkplan('A-1.md', front([...valid, ...many]))).problems).to.deep.equal([]);
    const twice = withinASecond('3,000 keys and a duplicate', () => parseWorkplan('A-1.md', front([...valid, ...many, 'key7: again'])));
    expect(twice.problems).to.deep.equal([{ line: 3005, message: 'the front matter gives "key7" twice: first on line 12' }]);
  });

  it('reads YAML that is slow to convert (deep flow collections, explicit keys, aliases) without converting it', function () {
    const ignored: Array<[string, string]> = [
      ['nested flow mappings', `tags: ${'{'.repeat(200)}${'}'.repeat(200)}`],
      ['nested explicit keys', `tags:\n  ${'? '.repeat(200)}`],
      ['aliases of aliases', ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 30 }, (_, i) => `a${i}: &a${i} [${Array(10).fill(i === 0 ? '*a' : `*a${i - 1}`).join(', ')}]`)].join('\n')],
      ['a long flow sequence', `tags: [${fill('x, ', MAX_FRONT_MATTER - 1000)}x]`],
    ];
    for (const [what, yaml] of ignored) {
      const parsed = withinASecond(what, () => parseWorkplan('A-1.md', front([...valid, yaml])));
      expect(parsed.problems, what).to.deep.equal([]);
    }
    const asTitle = withinASecond('a title of nested flow mappings', () => parseWorkplan('A-1.md', front(['id: A-1', 'topic: t', `title: ${'{'.repeat(200)}${'}'.repeat(200)}`])));
    expect(asTitle.problems).to.deep.equal([{ line: 4, message: 'title must be text' }]);
    const asTopic = parseWorkplan('A-1.md', front(['id: A-1', 'title: T', 'base: &b events', 'topic: *b']));
    expect(asTopic.problems).to.deep.equal([{ line: 5, message: 'topic must be a topic slug (lowercase letters, digits, ".", "_" or "-")' }]);
  });

  it('quotes at most 40 characters of the file in a problem', function () {
    const parsed = parseWorkplan('A-1.md', front(valid, `## Tasks\n- [ ] ${'K'.repeat(10_000)} title\n`));
    expect(parsed.problems).to.deep.equal([{ line: 7, message: `"${'K'.repeat(40)}…" is not a task key: a key is T and up to 9 digits, as in T01` }]);
  });

  it('takes the same ids from file names as the pattern docs/workplans.md gives', function () {
    // The documented rule, as a regular expression; fine on the short strings below.
    const documented = (name: string) => /^([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d+)(?=$|[-_. ])/.exec(name.replace(/\.md$/, ''))?.[1] ?? null;
    const alphabet = ['A', 'B', '1', '2', '-', '_', '.', ' ', 'x', '.md'];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let n = 0; n < 20_000; n++) {
      const name = Array.from({ length: 1 + Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      expect(idFromFileName(name), JSON.stringify(name)).to.equal(documented(name));
    }
  });
});
