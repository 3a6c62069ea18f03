// The reader threads: a small pool of worker threads that read and parse workplan files
// (read-worker.ts), so that no file, however large or strange, holds up the event loop that
// answers the API, MCP and signals. Each repo's reading has a time budget; past it the thread is
// stopped, and every file it had not finished becomes invalid, saying why.
import { Worker } from 'node:worker_threads';
import { unusable, type Listing } from './files.ts';
import type { ReadMessage, ToReader } from './read-worker.ts';
import { inputOf, readFileOf, type ReadFile } from './reading.ts';

/** Threads at most; the engine's turns (engine.ts) never ask for more at once. */
const POOL_SIZE = 2;

// Node loads a worker's entry before any loader hook could apply to it, so the thread first
// registers tsx, as bin/statehub.js does, and then imports the TypeScript entry.
const BOOT = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./read-worker.ts', import.meta.url).href)}); })`;

const idle: Worker[] = [];
const waiting: Array<() => void> = [];
/** Threads started and not yet exited: one being stopped still counts. */
let live = 0;

/** A new thread, once it has loaded its code. */
function spawn(): Promise<Worker> {
  const worker = new Worker(BOOT, { eval: true, execArgv: [] });
  live++;
  // A job listens for its own thread's errors; an idle thread that fails just exits.
  worker.on('error', () => {});
  worker.on('exit', () => {
    live--;
    const i = idle.indexOf(worker);
    if (i >= 0) idle.splice(i, 1);
    waiting.shift()?.();
  });
  return new Promise((resolve, reject) => {
    const settle = (done: () => void) => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      done();
    };
    const onMessage = (m: ReadMessage) => m.kind === 'ready' && settle(() => resolve(worker));
    const onError = (err: Error) => settle(() => reject(new Error(`a workplan reader thread failed to start: ${err.message}`)));
    const onExit = (code: number) => settle(() => reject(new Error(`a workplan reader thread exited as it started (code ${code})`)));
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

async function take(): Promise<Worker> {
  for (;;) {
    const worker = idle.pop();
    if (worker) return worker;
    // A thread that failed to start exits, and its exit wakes the next waiter.
    if (live < POOL_SIZE) return spawn();
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
}

/** Back to the pool when it finished its job; stopped when it did not (it may still be reading). */
function release(worker: Worker, finished: boolean): void {
  if (!finished) {
    // Its exit frees its place.
    void worker.terminate();
    return;
  }
  // An idle thread must not keep the process alive (the CLI exits when its sync is done).
  worker.unref();
  idle.push(worker);
  waiting.shift()?.();
}

/** A file the thread had not finished when the budget ran out. */
function late(name: string, started: boolean, budgetMs: number): ReadFile {
  const why = started
    ? `the file took longer than ${budgetMs} ms to read (SYNC_READ_BUDGET): the hub stopped reading it`
    : `not read: the repo's workplan files took longer than ${budgetMs} ms to read (SYNC_READ_BUDGET), and the hub stopped before this one`;
  return readFileOf(inputOf(unusable(name, why)));
}

interface Outcome {
  files: ReadFile[];
  finished: boolean;
}

function run(worker: Worker, listing: Listing, roots: string[], budgetMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const files: Array<ReadFile | undefined> = new Array(listing.names.length);
    const reading = new Set<number>();
    const settle = (done: () => void) => {
      clearTimeout(timer);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      done();
    };
    const onMessage = (m: ReadMessage) => {
      if (m.kind === 'reading') reading.add(m.index);
      else if (m.kind === 'read') {
        reading.delete(m.index);
        files[m.index] = m.file;
        worker.postMessage({ kind: 'ack' } satisfies ToReader);
      } else if (m.kind === 'done') settle(() => resolve({ files: files as ReadFile[], finished: true }));
      else if (m.kind === 'failed') settle(() => reject(new Error(`reading the workplan files failed: ${m.message}`)));
    };
    const onError = (err: Error) => settle(() => reject(new Error(`reading the workplan files failed: ${err.message}`)));
    const onExit = (code: number) => settle(() => reject(new Error(`reading the workplan files failed: the reader thread exited (code ${code})`)));
    const timer = setTimeout(() => {
      const all = listing.names.map((name, i) => files[i] ?? late(name, reading.has(i), budgetMs));
      settle(() => resolve({ files: all, finished: false }));
    }, budgetMs);
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    worker.ref();
    try {
      worker.postMessage({ kind: 'job', listing, roots } satisfies ToReader);
    } catch (err) {
      settle(() => reject(err));
    }
  });
}

/**
 * The files of a listing, in its order, read and parsed by a reader thread within `budgetMs`
 * (from the moment the thread has the job); a file's own problems are in its parsed form.
 * Rejects when the job fails otherwise (the thread errs, exits, or meets an unexpected error).
 */
export async function readInThread(listing: Listing, roots: string[], budgetMs: number): Promise<ReadFile[]> {
  if (listing.names.length === 0) return [];
  const worker = await take();
  let finished = false;
  try {
    const outcome = await run(worker, listing, roots, budgetMs);
    finished = outcome.finished;
    return outcome.files;
  } finally {
    release(worker, finished);
  }
}
