// One pending retry per ordering key (lanes.ts): each fires after its own backoff, or all at
// once when JetStream answers again (an ack), and none after the lanes give up.
export class RetryTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly fire: (key: string) => void) {}

  schedule(key: string, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.fire(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, timer);
  }

  /** Every key waiting goes now. */
  fireAll(): void {
    const keys = [...this.timers.keys()];
    this.clear();
    for (const key of keys) this.fire(key);
  }

  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
