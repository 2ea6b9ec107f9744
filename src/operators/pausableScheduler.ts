/**
 * A scheduler whose clock can stand still: `now()` is the base scheduler's time minus every spell
 * spent paused. Timers still fire on the base scheduler; a timer that fires while paused finds
 * less time gone by than it was armed for, and its owner re-arms it for the rest.
 *
 * The pipeline's windows run on it, paused while the broker is away: idle timeouts measure how
 * long a session sent nothing while input could arrive, so an outage does not flush open sessions
 * half-filled (their later records would then be late or score their windows a second time).
 *
 * @example
 * const clock = new PausableScheduler();
 * records$.pipe(sessionWindows(options, clock));
 * health.onChange((degraded) => (degraded ? clock.pause() : clock.resume()));
 */
import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';

export class PausableScheduler implements SchedulerLike {
  private pausedTotal = 0;
  private pausedAt: number | null = null;

  constructor(private readonly base: SchedulerLike = asyncScheduler) {}

  get paused(): boolean {
    return this.pausedAt !== null;
  }

  /** Stops the clock (idempotent). */
  pause(): void {
    if (this.pausedAt === null) this.pausedAt = this.base.now();
  }

  /** Starts the clock again where it stopped (idempotent). */
  resume(): void {
    if (this.pausedAt === null) return;
    this.pausedTotal += this.base.now() - this.pausedAt;
    this.pausedAt = null;
  }

  now(): number {
    const t = this.base.now();
    return t - this.pausedTotal - (this.pausedAt === null ? 0 : t - this.pausedAt);
  }

  schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T): Subscription {
    return this.base.schedule(work, delay, state);
  }
}
