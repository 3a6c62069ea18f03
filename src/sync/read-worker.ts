// A reader thread (readers.ts starts it): reads and parses the files of one listing per job and
// posts each file's parsed form as it is done, so that the thread that started it can stop it
// at any moment and know which files were read. At most IN_FLIGHT files wait for the main
// thread at once: it takes in every message waiting in one go, and a queue of a thousand large
// files would hold its event loop for as long as they take to copy in.
import { parentPort } from 'node:worker_threads';
import type { Listing } from './files.ts';
import { readListing, type ReadFile } from './reading.ts';

/** Parsed files posted and not yet acknowledged, at most. */
const IN_FLIGHT = 4;

export type ToReader = { kind: 'job'; listing: Listing; roots: string[] } | { kind: 'ack' };

export type ReadMessage =
  | { kind: 'ready' }
  | { kind: 'reading'; index: number }
  | { kind: 'read'; index: number; file: ReadFile }
  | { kind: 'done' }
  /** Something other than a file's own problem went wrong: the job failed. */
  | { kind: 'failed'; message: string };

const port = parentPort!;
const post = (message: ReadMessage) => port.postMessage(message);

/** Files that may be posted before an acknowledgement comes back, and the files waiting for one. */
let credit = IN_FLIGHT;
const waiting: Array<() => void> = [];

async function postFile(index: number, file: ReadFile): Promise<void> {
  if (credit > 0) credit--;
  else await new Promise<void>((resolve) => waiting.push(resolve));
  post({ kind: 'read', index, file });
}

port.on('message', (message: ToReader) => {
  if (message.kind === 'ack') {
    // The credit passes to the next file waiting, if any.
    const next = waiting.shift();
    if (next) next();
    else credit++;
    return;
  }
  readListing(message.listing, message.roots, {
    reading: (index) => post({ kind: 'reading', index }),
    read: postFile,
  }).then(
    () => post({ kind: 'done' }),
    (err: unknown) => post({ kind: 'failed', message: err instanceof Error ? err.message : String(err) }),
  );
});
post({ kind: 'ready' });
