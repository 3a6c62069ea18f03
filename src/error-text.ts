// One line for any thrown value, for logs and the CLI. Its own module so the CLI can use it
// without loading the logger.

/** A rejection may carry undefined, an AggregateError (a failed connect to every address) no message. */
export function errorText(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return err.errors.map(errorText).join('; ');
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
