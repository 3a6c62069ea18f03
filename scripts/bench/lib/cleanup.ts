// Resources a benchmark opens (databases, servers, child processes, temp dirs) register how to
// release themselves here; the runner releases them in reverse order at the end, after a failure,
// and on SIGINT/SIGTERM, so an interrupted run leaves nothing behind.
export type Release = () => Promise<void> | void;

export class Cleanup {
  private readonly stack: Array<{ what: string; release: Release }> = [];

  /** Registers `release`; returns a function that runs it now (once) and forgets it. */
  defer(what: string, release: Release): () => Promise<void> {
    const entry = { what, release };
    this.stack.push(entry);
    return async () => {
      const i = this.stack.indexOf(entry);
      if (i < 0) return;
      this.stack.splice(i, 1);
      await release();
    };
  }

  /** Releases everything, newest first; one failure does not stop the rest. */
  async runAll(): Promise<void> {
    while (this.stack.length > 0) {
      const { what, release } = this.stack.pop()!;
      try {
        await release();
      } catch (err) {
        console.error(`cleanup of ${what} failed: ${(err as Error).message}`);
      }
    }
  }
}
