// Reads one workplan file (format: docs/workplans.md) into what the engine reconciles: the
// workstream its front matter declares and the tasks listed under "## Tasks". Pure: text in,
// a workplan or the problems out, each problem with the line it is on. The file is untrusted:
// every reader here is linear in its input (no pattern that can backtrack over a line).
import { workstreamStatus, type TaskStatus, type WorkstreamStatus } from '../operations/statuses.ts';
import { SLUG_PATTERN } from '../slug.ts';
import { readFrontMatter } from './front-matter.ts';
import { isBlank, quote, splitLines, trimBlanks, type Problem } from './text.ts';

export type { Problem } from './text.ts';

const TASK_KEY = /^T\d{1,9}$/;
export const MAX_TASKS = 2000;
/** The workstream slug is the id in lower case, and a slug has at most 100 characters. */
const MAX_ID = 100;
const MAX_TITLE = 500;

/** The box of a task line and the status it stands for. */
const BOXES: Readonly<Record<string, TaskStatus>> = { ' ': 'todo', '/': 'in_progress', '!': 'blocked', x: 'done', X: 'done', '-': 'cancelled' };

export interface TaskLine {
  key: string;
  title: string;
  status: TaskStatus;
  line: number;
}

export interface Workplan {
  id: string;
  title: string;
  status: WorkstreamStatus;
  topic: string;
  repoGoal: number | null;
  tasks: TaskLine[];
  /** Where each front-matter value is (or what it defaulted from), for problems found against the hub. */
  lines: { id: number; topic: number; repoGoal: number };
}

export interface Parsed {
  /** The workplan id, when one could be read, even from a file with problems. */
  id: string | null;
  /** Null when the file has problems: a file is used whole or not at all. */
  workplan: Workplan | null;
  problems: Problem[];
}

/**
 * The longest prefix of a name that is a workplan id and ends the name or is followed by - _ . or
 * a space; or null. An id is dash-separated parts of capital letters and digits, the first part
 * starting with a letter and the last all digits: ^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*-\d+$.
 */
function idPrefix(name: string): string | null {
  const run = /^[A-Z0-9-]*/.exec(name)![0];
  if (!/^[A-Z]/.test(run)) return null;
  const runEndsId = run.length === name.length || '_. '.includes(name[run.length]!);
  let found: string | null = null;
  let parts = 0;
  let partLength = 0;
  let digitsOnly = true;
  for (let i = 0; i <= run.length; i++) {
    const c = run[i];
    if (c !== undefined && c !== '-') {
      partLength++;
      digitsOnly &&= c >= '0' && c <= '9';
      continue;
    }
    if (partLength === 0) break; // two dashes in a row: no longer than this
    parts++;
    if (parts > 1 && digitsOnly && (c === '-' || runEndsId)) found = run.slice(0, i);
    partLength = 0;
    digitsOnly = true;
  }
  return found;
}

/** The id the file name gives, or null. */
export const idFromFileName = (fileName: string): string | null => idPrefix(fileName.endsWith('.md') ? fileName.slice(0, -3) : fileName);

const isWorkplanId = (value: string) => value.length <= MAX_ID && idPrefix(value) === value;

const scalarText = (v: unknown): string | undefined =>
  typeof v === 'string' ? trimBlanks(v) : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

/** A title the hub can store: 1 to 500 characters. */
function titleProblem(title: string, what: string): string | undefined {
  if (title === '') return `${what} is empty`;
  if ([...title].length > MAX_TITLE) return `${what} is longer than ${MAX_TITLE} characters`;
  return undefined;
}

interface Body {
  heading: { title: string; line: number } | null;
  tasks: TaskLine[];
}

/** An ATX heading (CommonMark 4.2): its level and its text without the optional closing #s. */
function readHeading(line: string): { level: number; words: string } | null {
  const open = /^ {0,3}(#{1,6})(?=[ \t]|$)/.exec(line);
  if (!open) return null;
  const text = trimBlanks(line.slice(open[0].length));
  let end = text.length;
  while (end > 0 && text[end - 1] === '#') end--;
  const closed = end === 0 || isBlank(text[end - 1]);
  return { level: open[1]!.length, words: closed ? trimBlanks(text.slice(0, end)) : text };
}

// A list item whose text starts with one character in brackets, not followed by "(" (that is a
// link: [x](url)). The "s" flag lets the box be any character, U+2028 included.
const TASK = /^[ \t]*[-*+][ \t]+\[(.?)\](?!\()/s;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

function readBody(lines: string[], start: number, problems: Problem[]): Body {
  let heading: Body['heading'] = null;
  const tasks: TaskLine[] = [];
  const seen = new Map<string, number>();
  let fence: string | null = null;
  let inTasks = false;
  for (let i = start; i < lines.length; i++) {
    const text = lines[i]!;
    const line = i + 1;
    const fenced = FENCE.exec(text);
    if (fenced) {
      const mark = fenced[1]!;
      if (fence === null) fence = mark;
      else if (mark[0] === fence[0] && mark.length >= fence.length) fence = null;
      continue;
    }
    if (fence !== null) continue;
    const h = readHeading(text);
    if (h) {
      const { level, words } = h;
      if (level === 1 && heading === null && words !== '') heading = { title: words, line };
      if (level <= 2) inTasks = level === 2 && words.toLowerCase() === 'tasks';
      continue;
    }
    if (!inTasks) continue;
    const m = TASK.exec(text);
    if (!m) continue;
    if (tasks.length === MAX_TASKS) {
      problems.push({ line, message: `more than ${MAX_TASKS} tasks: split the workplan` });
      break;
    }
    const status = BOXES[m[1]!];
    if (status === undefined) {
      problems.push({ line, message: `unknown box [${m[1]}]: use [ ] todo, [/] in progress, [!] blocked, [x] done or [-] cancelled` });
      continue;
    }
    const rest = text.slice(m[0].length);
    const words = trimBlanks(rest);
    let keyEnd = 0;
    while (keyEnd < words.length && !isBlank(words[keyEnd])) keyEnd++;
    if (!isBlank(rest[0]) || keyEnd === 0) {
      problems.push({ line, message: 'a task needs a key and a title, as in "- [ ] T01 Write the event catalog"' });
      continue;
    }
    const key = words.slice(0, keyEnd);
    const title = trimBlanks(words.slice(keyEnd));
    if (!TASK_KEY.test(key)) {
      problems.push({ line, message: `${quote(key)} is not a task key: a key is T and up to 9 digits, as in T01` });
      continue;
    }
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({ line, message: `task key ${key} is already used on line ${first}` });
      continue;
    }
    seen.set(key, line);
    const bad = titleProblem(title, `the title of task ${key}`);
    if (bad) {
      problems.push({ line, message: bad });
      continue;
    }
    tasks.push({ key, title, status, line });
  }
  return { heading, tasks };
}

/** Parses a workplan file's text; `fileName` gives the id when the front matter has none. */
export function parseWorkplan(fileName: string, text: string): Parsed {
  const problems: Problem[] = [];
  const lines = splitLines(text);
  const nul = lines.findIndex((l) => l.includes('\u0000'));
  if (nul >= 0) return { id: null, workplan: null, problems: [{ line: nul + 1, message: 'the file contains a NUL character: it is not a text file' }] };

  const { fields, readable, bodyStart } = readFrontMatter(lines, problems);
  const field = (name: string) => fields.get(name) ?? { value: null, line: 1 };
  const { heading, tasks } = readBody(lines, bodyStart, problems);
  if (!readable) return { id: null, workplan: null, problems: problems.sort(byLine) };

  let id: string | null = null;
  const given = field('id');
  if (given.value === null) {
    id = idFromFileName(fileName);
    if (id === null) problems.push({ line: 1, message: 'id is missing: give "id: CUST-WP-0040" in the front matter, or start the file name with the id' });
    else if (id.length > MAX_ID) {
      problems.push({ line: 1, message: `the id the file name gives is longer than ${MAX_ID} characters: give a shorter "id:" in the front matter` });
      id = null;
    }
  } else if (typeof given.value === 'string' && isWorkplanId(given.value)) {
    id = given.value;
  } else {
    problems.push({ line: given.line, message: 'id must look like CUST-WP-0040: capital letters and digits in dash-separated parts, ending in -<number>' });
  }

  let title = '';
  const titleField = field('title');
  const titleText = scalarText(titleField.value);
  if (titleField.value !== null && titleText === undefined) problems.push({ line: titleField.line, message: 'title must be text' });
  else if (titleText !== undefined) title = titleText;
  else if (heading) title = heading.title;
  else problems.push({ line: 1, message: 'title is missing: give "title:" in the front matter or a "# " heading' });
  const badTitle = title === '' ? undefined : titleProblem(title, 'the title');
  if (badTitle) problems.push({ line: titleText !== undefined ? titleField.line : (heading?.line ?? 1), message: badTitle });

  const statusField = field('status');
  const status = statusField.value === null ? 'planned' : workstreamStatus.safeParse(statusField.value).data;
  if (status === undefined) problems.push({ line: statusField.line, message: `status must be one of ${workstreamStatus.options.join(', ')}` });

  const topicField = field('topic');
  const topic = topicField.value;
  if (topic === null) problems.push({ line: topicField.line, message: 'topic is missing: give "topic:" with the slug of an existing topic' });
  else if (typeof topic !== 'string' || !SLUG_PATTERN.test(topic)) problems.push({ line: topicField.line, message: 'topic must be a topic slug (lowercase letters, digits, ".", "_" or "-")' });

  const goalField = field('repo_goal');
  const repoGoal = goalField.value;
  const goalOk = repoGoal === null || (typeof repoGoal === 'number' && Number.isSafeInteger(repoGoal) && repoGoal > 0);
  if (!goalOk) problems.push({ line: goalField.line, message: "repo_goal must be the id of one of this repo's goals (a positive whole number)" });

  if (problems.length > 0 || id === null || status === undefined) return { id, workplan: null, problems: problems.sort(byLine) };
  return {
    id,
    workplan: {
      id,
      title,
      status,
      topic: topic as string,
      repoGoal: repoGoal as number | null,
      tasks,
      lines: { id: given.line, topic: topicField.line, repoGoal: goalField.line },
    },
    problems: [],
  };
}

const byLine = (a: Problem, b: Problem) => (a.line ?? 0) - (b.line ?? 0);
