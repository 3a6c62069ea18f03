// Turns to hold a database connection for a sync. A sync keeps its connection for its whole
// run (the repo's advisory lock lives on it), so without a bound a burst of syncs or dry runs,
// which read tokens may send, could take the API's whole pool. Waiters are served in order,
// each until its own deadline.
export class Turns {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /** A release function once a turn is free; rejects with `late()` at the deadline (ms since the epoch). */
  take(deadline: number, late: () => Error): Promise<() => void> {
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        this.active++;
        resolve(this.releaser());
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(grant), 1);
        reject(late());
      }, Math.max(0, deadline - Date.now()));
      this.waiting.push(grant);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiting.shift()?.();
    };
  }
}
