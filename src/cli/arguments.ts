// Value parsers for the CLI's options and arguments. Each returns the parsed value or throws
// commander's InvalidArgumentError, which the CLI prints with the usage before exiting 2.
import { InvalidArgumentError } from 'commander';
import { durationWithin, SINCE_RANGE, type DurationRange } from '../durations.ts';
import { subjectPattern } from '../events/subject-pattern.ts';
import { SLUG_PATTERN, SLUG_RULE } from '../slug.ts';
import { TOKEN_NAME_PATTERN } from '../tokens.ts';

/** Runs check, turning whatever it throws into a usage error with the same message. */
function asArgument<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** A parser for a duration inside range, in milliseconds. */
export const durationIn = (range: DurationRange) => (text: string) => asArgument(() => durationWithin(text, range));

/** A whole number of at least 1 (an outbox id, a migration count). */
export function positiveInt(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number of at least 1, got "${text}"`);
  return n;
}

/** A repo slug, as the hub spells them. */
export function repoSlug(text: string): string {
  if (!SLUG_PATTERN.test(text)) throw new InvalidArgumentError(`"${text}" is not a repo slug (${SLUG_RULE})`);
  return text;
}

/** Collects outbox ids (a variadic argument) into a list. */
export function idList(text: string, previous: number[] = []): number[] {
  return [...previous, positiveInt(text)];
}

/** `--since` accepts an ISO timestamp or a duration counted back from now. */
export function since(text: string, now = new Date()): Date {
  // Date.parse accepts too much ("1", "May"); require an ISO date at least.
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t);
  }
  if (!/^\d+\s*[a-z]+$/.test(text.trim())) {
    throw new InvalidArgumentError(`expected an ISO time (2025-01-31T09:00:00Z) or a duration (2h, 30m), got "${text}"`);
  }
  return new Date(now.getTime() - asArgument(() => durationWithin(text, SINCE_RANGE)));
}

/** A replay subject or pattern (org.statehub.task.*, org.statehub.>). */
export function subject(text: string): string {
  asArgument(() => subjectPattern(text));
  return text;
}

/** A NATS subject filter for `events tail`: anything without whitespace. */
export function subjectFilter(text: string): string {
  if (!/^[^\s]+$/.test(text)) throw new InvalidArgumentError(`"${text}" is not a subject filter`);
  return text;
}

/** A token's name: it becomes the actor in request logs, so plain characters only. */
export function tokenName(text: string): string {
  if (!TOKEN_NAME_PATTERN.test(text)) {
    throw new InvalidArgumentError(`expected lowercase letters, digits, ".", "_", "@" or "-" (at most 100, starting with a letter or digit), got "${text}"`);
  }
  return text;
}

/** An event's envelope id, a uuid. */
export function eventId(text: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) throw new InvalidArgumentError(`expected an event id (a uuid), got "${text}"`);
  return text.toLowerCase();
}

/** Why an operator skips an event: kept with it, so not empty and not a novel. */
export function skipReason(text: string): string {
  const reason = text.trim();
  if (reason.length < 1 || reason.length > 2000) throw new InvalidArgumentError('the reason must be 1 to 2000 characters');
  return reason;
}
