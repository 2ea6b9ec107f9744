/**
 * The share of the last `windowMs` that something was busy, from the intervals it reports: the
 * speech stage's measure of how loaded its recogniser is (it decodes with the beam only while this
 * stays under BEAM_BUSY_MAX).
 */
export class BusyShare {
  private readonly spans: { from: number; to: number }[] = [];

  constructor(private readonly windowMs: number) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be positive, got ${windowMs}`);
  }

  /** It was busy from `from` to `to` (ms, to >= from). */
  add(from: number, to: number): void {
    if (to > from) this.spans.push({ from, to });
  }

  /** Busy time inside [now - windowMs, now] over windowMs, in [0, 1]. */
  share(now: number): number {
    const start = now - this.windowMs;
    while (this.spans.length > 0 && this.spans[0]!.to <= start) this.spans.shift();
    let busy = 0;
    for (const s of this.spans) busy += Math.max(0, Math.min(s.to, now) - Math.max(s.from, start));
    return Math.min(1, busy / this.windowMs);
  }
}
