/**
 * Whether the transport reaches the broker: each part (producer, consumer, committer, connect)
 * reports a problem when Kafka fails it and clears it on its next success. While any problem is
 * open the transport is *degraded*: /healthz says so with the reasons, and the windows' idle clock
 * stands still (a session is not idle because the broker is away).
 *
 * @example
 * const health = createTransportHealth();
 * health.onChange((degraded) => (degraded ? clock.pause() : clock.resume()));
 * health.problem('producer', 'send failed: Connection refused'); health.ok('producer');
 */

export type TransportPart = 'connect' | 'producer' | 'consumer' | 'committer';

export interface TransportProblem {
  part: TransportPart;
  reason: string;
  /** Epoch ms the part first failed (it has failed since). */
  since: number;
}

export interface TransportHealth {
  /** Reports that `part` failed; keeps the first `since` while the problem stays open. */
  problem(part: TransportPart, reason: string): void;
  /** `part` succeeded: its problem, if any, is closed. */
  ok(part: TransportPart): void;
  /** Open problems, oldest first. */
  problems(): TransportProblem[];
  readonly degraded: boolean;
  /** Times the transport became degraded, and ms spent degraded (closed spells). */
  readonly outages: number;
  readonly degradedMs: number;
  /** Called with the new state whenever `degraded` flips. Returns an unsubscribe function. */
  onChange(listener: (degraded: boolean) => void): () => void;
}

const MAX_REASON_CHARS = 300;

export function createTransportHealth(now: () => number = Date.now): TransportHealth {
  const open = new Map<TransportPart, TransportProblem>();
  const listeners = new Set<(degraded: boolean) => void>();
  let outages = 0;
  let degradedMs = 0;
  let degradedSince = 0;
  const notify = (degraded: boolean) => {
    for (const l of listeners) l(degraded);
  };
  return {
    problem(part, reason) {
      const text = reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}...` : reason;
      const prev = open.get(part);
      open.set(part, { part, reason: text, since: prev?.since ?? now() });
      if (open.size === 1 && !prev) {
        outages++;
        degradedSince = now();
        notify(true);
      }
    },
    ok(part) {
      if (!open.delete(part)) return;
      if (open.size === 0) {
        degradedMs += now() - degradedSince;
        notify(false);
      }
    },
    problems: () => [...open.values()].sort((a, b) => a.since - b.since),
    get degraded() {
      return open.size > 0;
    },
    get outages() {
      return outages;
    },
    get degradedMs() {
      return degradedMs + (open.size > 0 ? now() - degradedSince : 0);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
