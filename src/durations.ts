// Durations in configuration and on the command line ("500ms", "5s", "10m", "2h", "30d"), and
// the bounds of each. Free of zod, so the CLI checks its arguments without loading the schema.

const durationPattern = /^(\d+)\s*(ms|s|m|h|d)$/;
const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "500ms", "5s", "10m", "2h", "30d" into milliseconds; undefined when malformed or not a safe integer. */
export function parseDuration(text: string): number | undefined {
  const m = durationPattern.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * durationUnits[m[2]!]!;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Inclusive bounds of a duration, written as durations so messages can quote them. */
export interface DurationRange {
  min: string;
  max: string;
}

/** Milliseconds of a duration inside range; throws RangeError with the one-line reason otherwise. */
export function durationWithin(text: string, range: DurationRange): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < parseDuration(range.min)! || ms > parseDuration(range.max)!) {
    throw new RangeError(`expected a duration from ${range.min} to ${range.max} (units ms, s, m, h, d), got "${text}"`);
  }
  return ms;
}

// Every duration has bounds: past Node's timer limit (~24.8 days) setTimeout fires at once, and a
// zero poll or timeout turns a wait into a busy loop. The README's configuration table lists them.
/** A lost notification waits at most this long; under 100ms the safety poll becomes a busy loop. */
export const POLL_INTERVAL_RANGE: DurationRange = { min: '100ms', max: '1h' };
/** Publishes time out after 5 s, so minutes never help; under 1s even healthy acks can miss it. */
export const SHUTDOWN_TIMEOUT_RANGE: DurationRange = { min: '1s', max: '10m' };
/** Also bounds `outbox prune --older-than`: the last hour's rows are what replay may still need. */
export const RETENTION_RANGE: DurationRange = { min: '1h', max: '3650d' };
/** How far back `replay --since` may reach; 0s (now) would select nothing. */
export const SINCE_RANGE: DurationRange = { min: '1s', max: '3650d' };
/** JetStream keeps every msg id of its duplicate window in memory; a month outlasts any outage worth riding out. */
export const DUPLICATE_WINDOW_RANGE: DurationRange = { min: '1s', max: '30d' };
/** A request's statements; past a few minutes a request is abandoned by any client anyway. */
export const STATEMENT_TIMEOUT_RANGE: DurationRange = { min: '100ms', max: '10m' };
/** A repo's workplan reading: 2,000 files of 2,000 tasks take seconds; past minutes a repo only holds a reader thread. */
export const READ_BUDGET_RANGE: DurationRange = { min: '10ms', max: '10m' };
/** `token create --expires`: under an hour is a typo more often than a plan. */
export const TOKEN_LIFETIME_RANGE: DurationRange = { min: '1h', max: '3650d' };
