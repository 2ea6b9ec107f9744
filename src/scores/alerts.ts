import type { Score } from '../schemas/records.js';

/**
 * Alerts over rolling scores (DESIGN.md §8): a rule such as "the rolling score stayed below
 * -1.0 for 10 s of event time" fires once when it starts to hold, and resolves once when the
 * score comes back. The service logs each transition and sends it to WebSocket clients.
 *
 * Pure: `update` takes a session's scores in window order and returns the transitions they
 * cause; nothing here reads a clock or holds a timer (the caller passes wall-clock `now` for
 * idle expiry).
 *
 * Semantics, per session and rule (`when: 'below'`; `'above'` mirrors it):
 * - Time is event time, and a score counts up to the event time its window's records reach:
 *   `min(windowEnd, reached)`, where `reached` (optional, from the scoring stage) is the latest
 *   event time of the window's records (windows/eventTimeReached.ts). Without it, the window end.
 *   While a session streams the two are (nearly) the same; the windows flushed when a session
 *   ends run up to W past its last record, and counting their window ends would stretch a 7.5 s
 *   clip into "below for 12 s". Time never goes back: a window whose records stop earlier than
 *   the previous one's adds no time.
 * - A stretch starts at the time of the first score below `threshold` (`since`) and lasts while
 *   the scores stay below. It fires when `time - since >= forMs`: with 1 s hops and `forMs`
 *   10 000 that is the 11th score below in a row. A gap between scores counts as time below
 *   (event time, no contrary evidence); a score at or above the threshold ends it.
 * - A firing rule resolves (`reason: 'recovered'`) on the first score at or above
 *   `threshold + hysteresis`; between the two it stays firing.
 * - A score whose window end is not after the session's last one (a duplicate after a
 *   restart, a late window) changes nothing.
 * - State is one small entry per session, freed by `expire` (the session ended or went idle;
 *   firing rules resolve with `reason: 'expired'`), by `sweep` (no score for `idleTimeoutMs` of
 *   wall-clock time) and by the `maxSessions` bound (least recently scored first;
 *   `reason: 'evicted'`). So each firing alert is always followed by exactly one resolution.
 *
 * @example
 * const alerts = createAlertEvaluator({ rules: [{ name: 'sustained-negative', when: 'below', threshold: -1, forMs: 10_000 }] });
 * for (const a of alerts.update(score, Date.now(), reached)) log.warn({ alert: a }, a.message);
 */

export interface AlertRule {
  /** Names the rule in alerts; unique among the rules. */
  name: string;
  when: 'below' | 'above';
  /** Rolling score the condition compares with, in [-3, 3]. */
  threshold: number;
  /** Event time (ms) the condition must hold before the rule fires; 0 fires on the first score. */
  forMs: number;
  /** A firing rule resolves only this far back past the threshold (avoids flapping). Default 0. */
  hysteresis?: number;
}

export type AlertState = 'firing' | 'resolved';
export type ResolveReason = 'recovered' | 'expired' | 'evicted';

/** One transition of one rule for one session. Times are event time, epoch ms. */
export interface Alert {
  type: 'alert';
  sessionId: string;
  rule: string;
  state: AlertState;
  /**
   * Event time of the first score of the stretch that fired, `min(windowEnd, reached)` (the
   * same in the resolution).
   */
  since: number;
  /** Window end of the score that caused this transition (the last one for expired/evicted). */
  at: number;
  /** Rolling score at `at`. */
  score: number;
  /** Why a resolution happened; absent when firing. */
  reason?: ResolveReason;
  /** For people: what the rule says and what happened. */
  message: string;
}

export interface AlertEvaluatorOptions {
  rules: readonly AlertRule[];
  /** Sessions with state at once; the least recently scored is dropped beyond it. Default 10 000. */
  maxSessions?: number;
  /** `sweep(now)` expires sessions with no score for this long (wall clock, ms). Default 60 000. */
  idleTimeoutMs?: number;
}

export interface AlertStats {
  /** Sessions with state. */
  sessions: number;
  /** Rule x session pairs firing now. */
  firing: number;
  fired: number;
  resolved: number;
  /** Sessions dropped by the maxSessions bound. */
  evicted: number;
}

export interface AlertEvaluator {
  /**
   * Feeds one rolling score (a session's scores in window order); returns the transitions.
   * `reached`: the event time the score's window's records reach (ScoredWindow.reached); the
   * score counts up to `min(windowEnd, reached)`, up to its window end without it.
   */
  update(score: Pick<Score, 'sessionId' | 'windowEnd' | 'score'>, now: number, reached?: number): Alert[];
  /** Frees a session's state; its firing rules resolve with reason 'expired'. */
  expire(sessionId: string): Alert[];
  /** Expires every session with no score since `now - idleTimeoutMs`. */
  sweep(now: number): Alert[];
  /** The alerts firing now (their firing events). */
  firing(): Alert[];
  stats(): AlertStats;
}

export const DEFAULT_ALERT_RULE: AlertRule = { name: 'sustained-negative', when: 'below', threshold: -1, forMs: 10_000, hysteresis: 0 };
export const DEFAULT_ALERT_OPTIONS = { maxSessions: 10_000, idleTimeoutMs: 60_000 } as const;

interface RuleState {
  /** Time (min(windowEnd, reached)) of the first score of the current stretch; null when the condition does not hold. */
  since: number | null;
  /** The firing event while firing. */
  firing: Alert | null;
}

interface SessionState {
  lastWindowEnd: number;
  /** How far in event time the session's scores reach: the max of min(windowEnd, reached). */
  lastTime: number;
  lastScore: number;
  /** Wall clock of the last update, for sweep. */
  lastSeen: number;
  rules: RuleState[];
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;

/** "rolling score below -1.00 for 10 s": what a rule says, for messages and logs. */
export function describeRule(rule: AlertRule): string {
  return `rolling score ${rule.when} ${signed(rule.threshold)} for ${seconds(rule.forMs)}`;
}

function checkRules(rules: readonly AlertRule[]): void {
  const names = new Set<string>();
  for (const r of rules) {
    const where = `alert rule ${JSON.stringify(r.name)}`;
    if (typeof r.name !== 'string' || r.name.length === 0) throw new RangeError(`alert rules need a non-empty name, got ${JSON.stringify(r.name)}`);
    if (names.has(r.name)) throw new RangeError(`${where} is defined twice; rule names must be unique`);
    names.add(r.name);
    if (r.when !== 'below' && r.when !== 'above') throw new RangeError(`${where}: when must be 'below' or 'above', got ${JSON.stringify(r.when)}`);
    if (!(Number.isFinite(r.threshold) && Math.abs(r.threshold) <= 3)) throw new RangeError(`${where}: threshold must be in [-3, 3], got ${r.threshold}`);
    if (!(Number.isInteger(r.forMs) && r.forMs >= 0)) throw new RangeError(`${where}: forMs must be an integer >= 0, got ${r.forMs}`);
    const h = r.hysteresis ?? 0;
    if (!(Number.isFinite(h) && h >= 0)) throw new RangeError(`${where}: hysteresis must be >= 0, got ${h}`);
  }
}

export function createAlertEvaluator(options: AlertEvaluatorOptions): AlertEvaluator {
  const rules = options.rules;
  checkRules(rules);
  const maxSessions = options.maxSessions ?? DEFAULT_ALERT_OPTIONS.maxSessions;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_ALERT_OPTIONS.idleTimeoutMs;
  if (!(Number.isInteger(maxSessions) && maxSessions >= 1)) throw new RangeError(`alerts: maxSessions must be an integer >= 1, got ${maxSessions}`);
  if (!(Number.isInteger(idleTimeoutMs) && idleTimeoutMs >= 1)) throw new RangeError(`alerts: idleTimeoutMs must be an integer >= 1, got ${idleTimeoutMs}`);

  /** Oldest-updated first: a Map keeps insertion order and update re-inserts. */
  const sessions = new Map<string, SessionState>();
  const counters = { fired: 0, resolved: 0, evicted: 0 };

  const breaches = (rule: AlertRule, score: number) => (rule.when === 'below' ? score < rule.threshold : score > rule.threshold);
  const recovered = (rule: AlertRule, score: number) => {
    const h = rule.hysteresis ?? 0;
    return rule.when === 'below' ? score >= rule.threshold + h : score <= rule.threshold - h;
  };

  /** `at`: the window end of the score that resolves it; `time`: the event time that score reaches. */
  const resolve = (sessionId: string, rule: AlertRule, firing: Alert, at: number, time: number, score: number, reason: ResolveReason): Alert => {
    counters.resolved++;
    const why =
      reason === 'recovered'
        ? `back to ${signed(score)}`
        : reason === 'expired'
          ? 'the session ended or went idle'
          : 'too many sessions tracked: state dropped';
    return {
      type: 'alert',
      sessionId,
      rule: rule.name,
      state: 'resolved',
      since: firing.since,
      at,
      score,
      reason,
      message: `resolved: ${describeRule(rule)} (${why}, after ${seconds(time - firing.since)})`,
    };
  };

  /** Resolutions for every firing rule of a session that is being dropped. */
  const drop = (sessionId: string, reason: Exclude<ResolveReason, 'recovered'>): Alert[] => {
    const state = sessions.get(sessionId);
    if (state === undefined) return [];
    sessions.delete(sessionId);
    const out: Alert[] = [];
    state.rules.forEach((r, i) => {
      if (r.firing) out.push(resolve(sessionId, rules[i]!, r.firing, state.lastWindowEnd, state.lastTime, state.lastScore, reason));
    });
    return out;
  };

  return {
    update(score, now, reached) {
      const { sessionId, windowEnd } = score;
      if (!Number.isFinite(score.score) || !Number.isFinite(windowEnd)) return [];
      let state = sessions.get(sessionId);
      const out: Alert[] = [];
      if (state === undefined) {
        state = { lastWindowEnd: -Infinity, lastTime: -Infinity, lastScore: 0, lastSeen: now, rules: rules.map(() => ({ since: null, firing: null })) };
        while (sessions.size >= maxSessions) {
          const oldest = sessions.keys().next().value!;
          counters.evicted++;
          out.push(...drop(oldest, 'evicted'));
        }
      } else if (windowEnd <= state.lastWindowEnd) {
        return [];
      }
      sessions.delete(sessionId); // re-insert: most recently updated last
      sessions.set(sessionId, state);
      // Never back in time: a later window whose records stop earlier adds no time, takes none.
      const reach = reached !== undefined && Number.isFinite(reached) ? Math.min(windowEnd, reached) : windowEnd;
      const time = Math.max(state.lastTime, reach);
      state.lastWindowEnd = windowEnd;
      state.lastTime = time;
      state.lastScore = score.score;
      state.lastSeen = now;

      rules.forEach((rule, i) => {
        const r = state.rules[i]!;
        if (r.firing) {
          if (recovered(rule, score.score)) {
            out.push(resolve(sessionId, rule, r.firing, windowEnd, time, score.score, 'recovered'));
            r.firing = null;
            r.since = null;
          }
          return;
        }
        if (!breaches(rule, score.score)) {
          r.since = null;
          return;
        }
        r.since ??= time;
        const lasted = time - r.since;
        if (lasted >= rule.forMs) {
          counters.fired++;
          r.firing = {
            type: 'alert',
            sessionId,
            rule: rule.name,
            state: 'firing',
            since: r.since,
            at: windowEnd,
            score: score.score,
            message: `${describeRule(rule)}: ${signed(score.score)} now, for ${seconds(lasted)}`,
          };
          out.push(r.firing);
        }
      });
      return out;
    },

    expire: (sessionId) => drop(sessionId, 'expired'),

    sweep(now) {
      const out: Alert[] = [];
      // Least recently updated first, so the idle ones are at the front.
      for (const [sessionId, state] of sessions) {
        if (now - state.lastSeen < idleTimeoutMs) break;
        out.push(...drop(sessionId, 'expired'));
      }
      return out;
    },

    firing() {
      const out: Alert[] = [];
      for (const state of sessions.values()) for (const r of state.rules) if (r.firing) out.push(r.firing);
      return out;
    },

    stats() {
      let firing = 0;
      for (const state of sessions.values()) for (const r of state.rules) if (r.firing) firing++;
      return { sessions: sessions.size, firing, ...counters };
    },
  };
}
