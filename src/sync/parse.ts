// Reads one workplan file (format: docs/workplans.md) into what the engine reconciles: the
// workstream its front matter declares and the tasks listed under "## Tasks". Pure: text in,
// a workplan or the problems out, each problem with the line it is on.
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { workstreamStatus, type TaskStatus, type WorkstreamStatus } from '../operations/statuses.ts';
import { SLUG_PATTERN } from '../slug.ts';

const WORKPLAN_ID = /^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*-\d+$/;
/** The longest prefix of a file name that is an id, ending the name or followed by - _ . or a space. */
const ID_PREFIX = /^([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d+)(?=$|[-_. ])/;
const TASK_KEY = /^T\d{1,9}$/;
export const MAX_TASKS = 2000;
/** The workstream slug is the id in lower case, and a slug has at most 100 characters. */
const MAX_ID = 100;
const MAX_TITLE = 500;

/** The box of a task line and the status it stands for. */
const BOXES: Readonly<Record<string, TaskStatus>> = { ' ': 'todo', '/': 'in_progress', '!': 'blocked', x: 'done', X: 'done', '-': 'cancelled' };

export interface Problem {
  /** 1-based; null for a problem of the whole file (too large, not UTF-8 text, a link out). */
  line: number | null;
  message: string;
}

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

/** The id the file name gives, or null. */
export function idFromFileName(fileName: string): string | null {
  return ID_PREFIX.exec(fileName.replace(/\.md$/, ''))?.[1] ?? null;
}

interface FrontMatter {
  fields: Map<string, { value: unknown; line: number }>;
  /** False when it could not be read: its fields are unknown, not missing. */
  readable: boolean;
  /** Index of the first line after it. */
  bodyStart: number;
}

function readFrontMatter(lines: string[], problems: Problem[]): FrontMatter {
  const fields = new Map<string, { value: unknown; line: number }>();
  if (lines[0]?.trimEnd() !== '---') return { fields, readable: true, bodyStart: 0 };
  const close = lines.findIndex((l, i) => i > 0 && ['---', '...'].includes(l.trimEnd()));
  if (close < 0) {
    problems.push({ line: 1, message: 'the front matter that starts here is never closed with a --- line' });
    return { fields, readable: false, bodyStart: lines.length };
  }
  const counter = new LineCounter();
  const doc = parseDocument(lines.slice(1, close).join('\n'), { lineCounter: counter, uniqueKeys: true, prettyErrors: false });
  // Lines of the YAML text are one below the file's: the opening --- is line 1.
  const lineOf = (offset: number) => counter.linePos(offset).line + 1;
  for (const err of doc.errors) problems.push({ line: lineOf(err.pos[0]), message: `front matter is not valid YAML: ${err.message}` });
  if (doc.errors.length > 0) return { fields, readable: false, bodyStart: close + 1 };
  if (doc.contents === null) return { fields, readable: true, bodyStart: close + 1 };
  if (!isMap(doc.contents)) {
    problems.push({ line: 2, message: 'front matter must be "key: value" lines' });
    return { fields, readable: false, bodyStart: close + 1 };
  }
  for (const pair of doc.contents.items) {
    if (!isScalar(pair.key)) continue;
    const value = isScalar(pair.value) ? pair.value.value : (pair.value?.toJSON() ?? null);
    fields.set(String(pair.key.value), { value, line: lineOf(pair.key.range?.[0] ?? 0) });
  }
  return { fields, readable: true, bodyStart: close + 1 };
}

const scalarText = (v: unknown): string | undefined =>
  typeof v === 'string' ? v.trim() : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

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

const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
// A single character in brackets, not followed by "(" (that is a link: [x](url)).
const TASK = /^\s*[-*+][ \t]+\[(.?)\](?!\()(.*)$/;
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
    const h = HEADING.exec(text);
    if (h) {
      const level = h[1]!.length;
      const words = (h[2] ?? '').trim();
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
    const km = /^[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(m[2]!);
    if (!km) {
      problems.push({ line, message: 'a task needs a key and a title, as in "- [ ] T01 Write the event catalog"' });
      continue;
    }
    const key = km[1]!;
    const title = (km[2] ?? '').trim();
    if (!TASK_KEY.test(key)) {
      problems.push({ line, message: `"${key}" is not a task key: a key is T and up to 9 digits, as in T01` });
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
  const lines = text.split(/\r?\n/);
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
  } else if (typeof given.value === 'string' && WORKPLAN_ID.test(given.value) && given.value.length <= MAX_ID) {
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
