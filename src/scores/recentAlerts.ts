import type { Alert } from './alerts.js';

/**
 * The alerts a client that connects now should see (docs/websocket.md, the `alerts` message):
 * the last `limit` transitions, and the firing events of alerts still firing whose transition
 * is older than those. Bounded: at most `limit` transitions and `maxFiring` firing events (beyond
 * it the oldest firing event is dropped from the list; the rule stays firing and resolves as
 * usual). Pure: fed by the service in the order the alerts were raised.
 *
 * @example
 * const recent = createRecentAlerts();
 * for (const a of alerts.update(score, Date.now())) recent.add(a);
 * recent.list((sessionId) => sessionId.startsWith('call-')); // oldest first
 */
export interface RecentAlerts {
  /** Records one transition (firing or resolved). */
  add(alert: Alert): void;
  /**
   * The alerts to show, oldest first, of the sessions `covers` accepts: firing events that fell
   * out of the recent transitions, then the recent transitions.
   */
  list(covers?: (sessionId: string) => boolean): Alert[];
  /** Alerts held: transitions plus firing events (one in both counts twice); at most limit + maxFiring. */
  readonly size: number;
}

export const DEFAULT_RECENT_ALERTS = { limit: 200, maxFiring: 1000 } as const;

const key = (a: Pick<Alert, 'sessionId' | 'rule'>) => `${a.sessionId}\u0000${a.rule}`;

export function createRecentAlerts(options: { limit?: number; maxFiring?: number } = {}): RecentAlerts {
  const limit = options.limit ?? DEFAULT_RECENT_ALERTS.limit;
  const maxFiring = options.maxFiring ?? DEFAULT_RECENT_ALERTS.maxFiring;
  for (const [name, v] of [
    ['limit', limit],
    ['maxFiring', maxFiring],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`recent alerts: ${name} must be an integer >= 1, got ${v}`);
  }
  /** Ring of the last `limit` transitions; `next` is where the next one goes (the oldest). */
  const ring: Alert[] = [];
  let next = 0;
  /** Firing events of the alerts firing now, by (session, rule), oldest first. */
  const firing = new Map<string, Alert>();

  return {
    add(alert) {
      if (ring.length < limit) ring.push(alert);
      else ring[next] = alert;
      next = (next + 1) % limit;
      const k = key(alert);
      firing.delete(k);
      if (alert.state === 'firing') {
        firing.set(k, alert);
        if (firing.size > maxFiring) firing.delete(firing.keys().next().value!);
      }
    },
    list(covers = () => true) {
      const recent = ring.length < limit ? ring : [...ring.slice(next), ...ring.slice(0, next)];
      const inRecent = new Set(recent);
      const older = [...firing.values()].filter((a) => !inRecent.has(a));
      return [...older, ...recent].filter((a) => covers(a.sessionId));
    },
    get size() {
      return ring.length + firing.size;
    },
  };
}
