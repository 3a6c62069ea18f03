// Makes sure the JetStream stream exists. A stream someone else created is left exactly as it
// is (its limits, retention and replicas are theirs), unless it cannot hold our subjects.
import { RetentionPolicy, StorageType, type JetStreamManager, type NatsError } from 'nats';
import { SUBJECT_PREFIX } from '../events/catalog.ts';
import type { Logger } from '../logger.ts';

export const OUR_SUBJECTS = `${SUBJECT_PREFIX}>`; // org.statehub.>
const DEFAULT_SUBJECTS = ['org.>'];

/** The stream exists but its subjects do not cover ours: fatal, an operator must decide. */
export class StreamConfigError extends Error {
  override name = 'StreamConfigError';
}

/** Whether NATS subject filter `filter` matches every subject that `subject` (which may end in >) matches. */
export function subjectCovers(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return i < s.length;
    if (i >= s.length || s[i] === '>') return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

function isNotFound(err: unknown): boolean {
  const ne = err as NatsError;
  return ne?.code === '404' || ne?.api_error?.err_code === 10059;
}

/** Creates `name` (subjects org.>, file storage) when missing; checks its subjects when present. */
export async function ensureStream(jsm: JetStreamManager, name: string, log: Logger): Promise<void> {
  let subjects: string[];
  try {
    subjects = (await jsm.streams.info(name)).config.subjects ?? [];
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add({ name, subjects: DEFAULT_SUBJECTS, storage: StorageType.File, retention: RetentionPolicy.Limits });
      log.info('created JetStream stream', { stream: name, subjects: DEFAULT_SUBJECTS });
      return;
    } catch (addErr) {
      // Another pump may have created it a moment ago; then check what is there.
      subjects = (await jsm.streams.info(name).catch(() => Promise.reject(addErr))).config.subjects ?? [];
    }
  }
  if (!subjects.some((f) => subjectCovers(f, OUR_SUBJECTS))) {
    throw new StreamConfigError(
      `JetStream stream ${name} exists with subjects [${subjects.join(', ')}], which cannot hold ${OUR_SUBJECTS}; ` +
        `add ${OUR_SUBJECTS} (or org.>) to its subjects or set STREAM_NAME to another stream`,
    );
  }
  log.info('JetStream stream present', { stream: name, subjects });
}
