// Makes sure the JetStream stream exists. A stream someone else created is left exactly as it
// is (its limits, retention and replicas are theirs), unless it cannot hold our subjects; a
// duplicate window shorter than the one asked for, or other replicas, are reported, not changed.
import { millis, nanos, RetentionPolicy, StorageType, type JetStreamManager, type NatsError } from 'nats';
import { SUBJECT_PREFIX } from '../events/catalog.ts';
import type { Logger } from '../logger.ts';

export const OUR_SUBJECTS = `${SUBJECT_PREFIX}>`; // org.statehub.>
const DEFAULT_SUBJECTS = ['org.>'];

/** The stream exists but its subjects do not cover ours: an operator must decide. */
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

export interface EnsuredStream {
  /** It was missing and the pump created it (with the duplicate window and replicas asked for). */
  created: boolean;
  /** When JetStream created the stream (RFC 3339): a stream deleted and created again has another. */
  createdAt: string;
  subjects: string[];
  duplicateWindowMs: number;
  replicas: number;
}

/** What the pump asks of a stream it creates. */
export interface WantedStream {
  name: string;
  duplicateWindowMs: number;
  /** Copies JetStream keeps, on as many servers of a cluster (STREAM_REPLICAS). */
  replicas: number;
}

/**
 * Creates the stream (subjects org.>, file storage, the given duplicate window and replicas) when
 * missing; checks its subjects when present. Throws StreamConfigError when they cannot hold ours.
 */
export async function ensureStream(jsm: JetStreamManager, wanted: WantedStream, log: Logger): Promise<EnsuredStream> {
  const { name, duplicateWindowMs, replicas } = wanted;
  let info;
  let created = false;
  try {
    info = await jsm.streams.info(name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      info = await jsm.streams.add({
        name,
        subjects: DEFAULT_SUBJECTS,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        duplicate_window: nanos(duplicateWindowMs),
        num_replicas: replicas,
      });
      created = true;
      log.info('created JetStream stream', { stream: name, subjects: DEFAULT_SUBJECTS, duplicate_window_ms: duplicateWindowMs, replicas });
    } catch (addErr) {
      // Another pump may have created it a moment ago; then check what is there.
      info = await jsm.streams.info(name).catch(() => Promise.reject(addErr));
    }
  }
  const config = info.config;
  const subjects = config.subjects ?? [];
  if (!subjects.some((f) => subjectCovers(f, OUR_SUBJECTS))) {
    throw new StreamConfigError(
      `JetStream stream ${name} exists with subjects [${subjects.join(', ')}], which cannot hold ${OUR_SUBJECTS}; ` +
        `add ${OUR_SUBJECTS} (or org.>) to its subjects or set STREAM_NAME to another stream`,
    );
  }
  return { created, createdAt: info.created, subjects, duplicateWindowMs: millis(config.duplicate_window ?? 0), replicas: config.num_replicas ?? 1 };
}
