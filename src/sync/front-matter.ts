// The front matter of a workplan file: YAML between a first "---" line and the next "---" or "..."
// line. Only its top-level "key: value" pairs with scalar values matter to the hub.
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { quote, trimEndBlanks, type Problem } from './text.ts';

/** Room for the five keys of docs/workplans.md and many ignored ones; beyond it, a file is refused unread. */
export const MAX_FRONT_MATTER = 64 * 1024;

/** Stands for a value that is not a scalar (a list, a mapping, an alias): it fits no field. */
const NOT_SCALAR = Symbol('not a scalar');

export interface Field {
  value: unknown;
  line: number;
}

export interface FrontMatter {
  fields: Map<string, Field>;
  /** False when it could not be read: its fields are unknown, not missing. */
  readable: boolean;
  /** Index of the first line after it. */
  bodyStart: number;
}

const isDelimiter = (line: string, closing: boolean) => {
  const text = trimEndBlanks(line);
  return text === '---' || (closing && text === '...');
};

export function readFrontMatter(lines: string[], problems: Problem[]): FrontMatter {
  const fields = new Map<string, Field>();
  if (lines[0] === undefined || !isDelimiter(lines[0], false)) return { fields, readable: true, bodyStart: 0 };
  const close = lines.findIndex((l, i) => i > 0 && isDelimiter(l, true));
  if (close < 0) {
    problems.push({ line: 1, message: 'the front matter that starts here is never closed with a --- line' });
    return { fields, readable: false, bodyStart: lines.length };
  }
  const unread = { fields, readable: false, bodyStart: close + 1 };
  const yaml = lines.slice(1, close).join('\n');
  if (yaml.length > MAX_FRONT_MATTER) {
    problems.push({ line: 1, message: `the front matter is longer than ${MAX_FRONT_MATTER / 1024} KiB` });
    return unread;
  }
  const counter = new LineCounter();
  // yaml's own duplicate-key check compares every key with every other; the Set below is linear.
  const doc = parseDocument(yaml, { lineCounter: counter, uniqueKeys: false, prettyErrors: false });
  // Lines of the YAML text are one below the file's: the opening --- is line 1.
  const lineOf = (offset: number) => counter.linePos(offset).line + 1;
  for (const err of doc.errors) problems.push({ line: lineOf(err.pos[0]), message: `front matter is not valid YAML: ${err.message}` });
  if (doc.errors.length > 0) return unread;
  if (doc.contents === null) return { ...unread, readable: true };
  if (!isMap(doc.contents)) {
    problems.push({ line: 2, message: 'front matter must be "key: value" lines' });
    return unread;
  }
  for (const pair of doc.contents.items) {
    if (!isScalar(pair.key)) continue;
    const name = String(pair.key.value);
    const line = lineOf(pair.key.range?.[0] ?? 0);
    const first = fields.get(name);
    if (first !== undefined) {
      problems.push({ line, message: `the front matter gives ${quote(name)} twice: first on line ${first.line}` });
      return unread;
    }
    // Never turned into JavaScript: converting nested collections and aliases can take exponential time.
    const value = pair.value === null ? null : isScalar(pair.value) ? pair.value.value : NOT_SCALAR;
    fields.set(name, { value, line });
  }
  return { ...unread, readable: true };
}
