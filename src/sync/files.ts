// Where the engine may read, and how it reads. A repo's local_path and every workplan file
// must resolve (real path, symlinks followed) inside one of WORKPLAN_ROOTS; files are read
// with size and count limits, must be regular files with one link, in UTF-8, and are never written.
import { isUtf8 } from 'node:buffer';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { conflict, OperationError } from '../operations/errors.ts';
import type { Problem } from './parse.ts';

export const WORKPLAN_DIR = 'workplans';
export const LIMITS = { fileBytes: 1024 * 1024, files: 2000 } as const;

export interface WorkplanFile {
  /** Inside the repo: workplans/<name>. */
  path: string;
  name: string;
  /** The file's text, or null when it cannot be used (see problem). */
  text: string | null;
  problem?: Problem;
}

const inside = (child: string, root: string) => child === root || child.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

const errnoOf = (err: unknown): string | undefined => {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** The real path, or null when there is nothing there (a missing part, or a file where a directory would be). */
async function realpathOrNull(p: string): Promise<string | null> {
  try {
    return await fs.realpath(p);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return null;
    throw err;
  }
}

/** Runs a file-system step whose failure is a conflict (the disk is not as the repo says), not a server fault. */
async function orConflict<T>(step: () => Promise<T>, what: string): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const code = errnoOf(err);
    if (code === undefined) throw err;
    throw conflict(`${what} (${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code})`);
  }
}

/**
 * The real directory of a repo's checkout, or a conflict saying why the hub may not read it:
 * sync is off (no roots), no local_path, a path that does not exist, is not a directory or lies
 * outside the roots.
 */
export async function repoDirectory(repo: { slug: string; local_path: string | null }, roots: readonly string[]): Promise<{ dir: string; roots: string[] }> {
  if (roots.length === 0) {
    throw conflict('sync is off on this hub: set WORKPLAN_ROOTS to the directories it may read workplan files from (colon-separated) and restart it');
  }
  if (repo.local_path === null) throw conflict(`repo ${repo.slug} has no local_path: set it to the repo's checkout on the hub's host (PATCH /repos/${repo.slug})`);
  if (!path.isAbsolute(repo.local_path)) throw conflict(`the local_path of repo ${repo.slug} is not an absolute path`);
  const real = (await Promise.all(roots.map(realpathOrNull))).filter((r): r is string => r !== null);
  const named = `the local_path of repo ${repo.slug}, ${repo.local_path},`;
  const dir = await orConflict(() => realpathOrNull(repo.local_path!), `${named} cannot be read`);
  if (dir === null) throw conflict(`the local_path of repo ${repo.slug} does not exist on the hub's host`);
  if (!real.some((root) => inside(dir, root))) throw conflict(`the local_path of repo ${repo.slug} is outside WORKPLAN_ROOTS`);
  const stat = await orConflict(() => fs.stat(dir), `${named} cannot be read`);
  if (!stat.isDirectory()) throw conflict(`${named} is not a directory: set it to the repo's checkout`);
  return { dir, roots: real };
}

/** A checkout's workplans/ folder (its real path) and the names of its workplan files, sorted. */
export interface Listing {
  folder: string;
  names: string[];
}

/**
 * Lists the workplan files of a checkout; null when it has no workplans/ folder. The folder is
 * read as a stream, so a folder of a million entries never holds up the event loop, and a
 * listing over LIMITS.files is too_large as soon as it is.
 */
export async function listWorkplanFiles(dir: string, roots: string[]): Promise<Listing | null> {
  const unreadable = `${WORKPLAN_DIR}/ cannot be read`;
  const folder = await orConflict(() => realpathOrNull(path.join(dir, WORKPLAN_DIR)), unreadable);
  if (folder === null) return null;
  if (!roots.some((root) => inside(folder, root))) throw conflict(`${WORKPLAN_DIR}/ links outside WORKPLAN_ROOTS`);
  const stat = await orConflict(() => fs.stat(folder), unreadable);
  if (!stat.isDirectory()) throw conflict(`${WORKPLAN_DIR} is not a directory`);
  const names: string[] = [];
  await orConflict(async () => {
    for await (const entry of await fs.opendir(folder)) {
      // Hidden files are editors' and tools' (.#lock files, ._ resource forks).
      if (!entry.name.endsWith('.md') || entry.name.startsWith('.')) continue;
      if (names.push(entry.name) > LIMITS.files) {
        throw new OperationError('too_large', `${WORKPLAN_DIR}/ holds more than ${LIMITS.files} .md files; a repo may have at most ${LIMITS.files}`);
      }
    }
  }, unreadable);
  return { folder, names: names.sort() };
}

export const unusable = (name: string, message: string, line: number | null = null): WorkplanFile => ({
  path: `${WORKPLAN_DIR}/${name}`,
  name,
  text: null,
  problem: { line, message },
});

/** A file's problem from the error reading it raised; every one makes that file alone invalid. */
function readError(name: string, err: NodeJS.ErrnoException): WorkplanFile {
  switch (err.code) {
    case 'ENOENT':
      return unusable(name, 'the file is a link to nothing, or was removed while the sync read it');
    case 'ELOOP':
      return unusable(name, 'the file is a loop of links, or was replaced by a link while the sync read it');
    case 'EACCES':
    case 'EPERM':
      return unusable(name, 'the hub may not read the file (permission denied)');
    case 'ENXIO':
      return unusable(name, 'the file is not a regular file');
    default:
      return unusable(name, `the hub could not read the file (${err.code ?? err.message})`);
  }
}

/** Reads one workplan file of a listing; every problem with it is the file's own (its `problem`). */
export async function readWorkplanFile(dir: string, name: string, roots: string[]): Promise<WorkplanFile> {
  try {
    const real = await fs.realpath(path.join(dir, name));
    if (!roots.some((root) => inside(real, root))) return unusable(name, 'the file links outside WORKPLAN_ROOTS');
    // Before opening: opening a socket or device is refused or has side effects.
    const stat = await fs.stat(real);
    if (stat.isDirectory()) return unusable(name, 'this is a directory, not a workplan file');
    if (!stat.isFile()) return unusable(name, 'the file is not a regular file');
    return await readText(real, name, roots);
  } catch (err) {
    if (errnoOf(err) !== undefined) return readError(name, err as NodeJS.ErrnoException);
    throw err;
  }
}

async function readText(real: string, name: string, roots: string[]): Promise<WorkplanFile> {
  // O_NOFOLLOW: the real path's last part is no link now either; O_NONBLOCK: a FIFO swapped in
  // does not make the open wait for a writer.
  const handle = await fs.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return unusable(name, 'the file is not a regular file');
    // A hard link is a second name for a file, and nothing tells where the other names are: one
    // of them may be outside the roots. Git never makes hard links in a checkout.
    if (stat.nlink > 1) return unusable(name, `the file has ${stat.nlink} hard links: the hub reads only files with one, as another could be outside WORKPLAN_ROOTS`);
    // What was opened, where it really is: a directory swapped for a link after realpath()
    // would have led the open outside the roots. Linux only; elsewhere realpath() alone decides.
    const opened = process.platform === 'linux' ? await fs.readlink(`/proc/self/fd/${handle.fd}`).catch(() => null) : real;
    if (opened === null) return unusable(name, 'the hub cannot check where the opened file is (/proc/self/fd is not there)');
    if (!roots.some((root) => inside(opened, root))) return unusable(name, 'the file links outside WORKPLAN_ROOTS');
    const tooLarge = `the file is larger than ${LIMITS.fileBytes / 1024 / 1024} MiB`;
    if (stat.size > LIMITS.fileBytes) return unusable(name, tooLarge);
    // One byte more than it had, to see it grew; never more than the limit is read.
    const buffer = Buffer.allocUnsafe(stat.size + 1);
    let size = 0;
    while (size < buffer.length) {
      const { bytesRead } = await handle.read(buffer, size, buffer.length - size, size);
      if (bytesRead === 0) break;
      size += bytesRead;
    }
    // Grown, shrunk or rewritten in place meanwhile: half a file would look like removed tasks.
    const after = await handle.stat();
    if (size !== stat.size || after.size !== stat.size || after.mtimeMs !== stat.mtimeMs) {
      return unusable(name, 'the file changed while the sync read it; the next sync reads it again');
    }
    const bytes = buffer.subarray(0, size);
    if (!isUtf8(bytes)) return unusable(name, 'the file is not UTF-8 text', lineOfFirstBadByte(bytes));
    return { path: `${WORKPLAN_DIR}/${name}`, name, text: bytes.toString('utf8').replace(/^\uFEFF/, '') };
  } finally {
    await handle.close();
  }
}

/** The line of the first byte that is not UTF-8: decoding replaces it, so the two differ there. */
function lineOfFirstBadByte(bytes: Buffer): number {
  const again = Buffer.from(bytes.toString('utf8'), 'utf8');
  let i = 0;
  while (i < bytes.length && bytes[i] === again[i]) i++;
  let line = 1;
  for (let j = 0; j < i; j++) if (bytes[j] === 0x0a) line++;
  return line;
}
