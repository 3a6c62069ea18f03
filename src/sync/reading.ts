// Reads and parses the files of a listing, a few at a time, telling `events` when each file's
// reading starts and when it is parsed. A reader thread runs this for every sync (readers.ts),
// and hands each file over as a ReadFile: the little the engine needs of every file before it
// plans any, and the parsed form as JSON, made into objects only when the file's turn comes.
import { readWorkplanFile, type Listing, type WorkplanFile } from './files.ts';
import { parseWorkplan, type Parsed } from './parse.ts';
import type { FileInput } from './plan.ts';

/** Files read at once: their reads overlap, their parsing cannot. */
const READ_CONCURRENCY = 16;

export interface ReadFile {
  path: string;
  /** The workplan id, when one could be read (Parsed.id). */
  id: string | null;
  /** The topic and repo goal a valid file refers to; null when the file has problems. */
  refs: { topic: string; repoGoal: number | null } | null;
  /** The file's Parsed, as JSON. */
  json: string;
}

/** What the engine plans from: the parsed file, or the one problem that kept it from being read. */
export const inputOf = (f: WorkplanFile): FileInput => ({
  path: f.path,
  parsed: f.text === null ? { id: null, workplan: null, problems: [f.problem!] } : parseWorkplan(f.name, f.text),
});

export const readFileOf = ({ path, parsed }: FileInput): ReadFile => ({
  path,
  id: parsed.id,
  refs: parsed.workplan && { topic: parsed.workplan.topic, repoGoal: parsed.workplan.repoGoal },
  json: JSON.stringify(parsed),
});

export const inputOfRead = (file: ReadFile): FileInput => ({ path: file.path, parsed: JSON.parse(file.json) as Parsed });

export interface ReadEvents {
  reading(index: number): void;
  /** The next file is read once what this returns settles. */
  read(index: number, file: ReadFile): void | Promise<void>;
}

/** Reads every file of `listing` (by index into its names); only what is parsed reaches `events`. */
export async function readListing(listing: Listing, roots: string[], events: ReadEvents): Promise<void> {
  let next = 0;
  const reader = async () => {
    while (next < listing.names.length) {
      const index = next++;
      events.reading(index);
      await events.read(index, readFileOf(inputOf(await readWorkplanFile(listing.folder, listing.names[index]!, roots))));
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, listing.names.length) }, reader));
}
