// When the leader looks for parked events it may publish again (requeued, skipped past, or
// stuck on a transient error): at once after a wake-up (an operator's requeue or skip sends one),
// about once a second while busy, again at once while a round published some, and after a
// growing pause (1 s to 1 min) while they keep failing transiently.
import { Backoff } from './backoff.ts';

/** While busy, how often to look (a NOTIFY also asks). */
const CHECK_EVERY_MS = 1000;

export class ReleasePace {
  private due = true;
  private lastCheck = 0;
  private notBefore = 0;
  private readonly backoff = new Backoff(1000, 60_000);

  /** A wake-up: look in the next round, whatever the pause. */
  ask(): void {
    this.due = true;
    this.notBefore = 0;
  }

  /** Whether this round should look; counts as looking. */
  take(): boolean {
    const now = performance.now();
    if (now < this.notBefore || (!this.due && now - this.lastCheck <= CHECK_EVERY_MS)) return false;
    this.due = false;
    this.lastCheck = now;
    return true;
  }

  /** After a round: `published` some (there may be more), or some `stuck` on transient errors. */
  settled(published: boolean, stuck: boolean): void {
    if (stuck) {
      this.notBefore = performance.now() + this.backoff.next();
      return;
    }
    this.backoff.reset();
    if (published) this.due = true;
  }
}
