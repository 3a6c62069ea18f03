// Replay's --subject: a NATS subject or wildcard pattern, matched against the outbox's subject
// column as a regular expression. Imports nothing, so the CLI checks it before loading replay.

/** `org.statehub.task.*` or `org.statehub.>` as a regular expression over the subject column; RangeError when malformed. */
export function subjectPattern(subject: string): string {
  if (!/^[a-z0-9_*]+(\.[a-z0-9_*]+)*(\.>)?$|^>$/.test(subject)) {
    throw new RangeError(`expected a subject such as org.statehub.task.stale (* and a final > allowed), got "${subject}"`);
  }
  const body = subject
    .split('.')
    .map((t) => (t === '*' ? '[^.]+' : t === '>' ? '.+' : t))
    .join('\\.');
  return `^${body}$`;
}
