import { Observable, type OperatorFunction } from 'rxjs';
import type { Contributions, Modalities, Polarity, Score } from '../schemas/records.js';

/** The model's result for one closed session window: what the inference stage hands to scoring. */
export interface WindowResult {
  sessionId: string;
  windowStart: number;
  windowEnd: number;
  /** The model's score for this window alone; clamped to [-3, 3] here. */
  windowScore: number;
  contributions: Contributions;
  modalities: Modalities;
  /** Modalities the model read (absent from callers that do not know). */
  modalitiesUsed?: Modalities;
  modelVersion: string;
  /** Input records in the window. */
  records: number;
  /** Wall-clock ms when the window closed (watermark passed its end). */
  closedAt: number;
}

export type Smoothing = { method: 'ema'; alpha: number } | { method: 'mean'; windows: number };

/** Why a window result did not update its session's rolling state. */
export type SkipReason = 'late' | 'duplicate' | 'invalid';

export interface RollingScoreOptions {
  /** Default `{ method: 'ema', alpha: 0.3 }`. */
  smoothing?: Smoothing;
  /** |score| below this is NEUTRAL. Default 0.5; must be in [0, 3). */
  neutralBand?: number;
  /** Sessions whose state is kept at once; the least recently scored is dropped beyond it. Default 100 000. */
  maxSessions?: number;
  /** Session ids whose state to free (the windowing stage's idle-session expiry). */
  expired?: Observable<string>;
  /**
   * What to do with a late window (windowEnd older than the session's last): `'unsmoothed'` (default)
   * emits it with score = its own clamped windowScore and leaves the state alone; `'drop'` emits nothing.
   */
  late?: 'unsmoothed' | 'drop';
  /** Called for every window that did not update the rolling state, for counters and logs. */
  onSkip?: (result: WindowResult, reason: SkipReason) => void;
  /** Called when a session's state is dropped because `maxSessions` was reached. */
  onEvict?: (sessionId: string) => void;
  /** Wall clock, epoch ms. Default `Date.now`; tests pass the scheduler's `now`. */
  now?: () => number;
  /**
   * A session's state from before a restart or rebalance (the changelog), asked for when the
   * session has none here: smoothing goes on from it, and windows ending at or before its
   * `lastWindowEnd` are duplicates.
   */
  restore?: (sessionId: string) => RollingState | undefined;
  /** Called with a copy of the session's new state each time a window updated it, before its score is emitted. */
  onUpdate?: (sessionId: string, state: RollingState) => void;
}

export const SCORE_MIN = -3;
export const SCORE_MAX = 3;

export const DEFAULT_ROLLING_SCORE_OPTIONS = {
  smoothing: { method: 'ema', alpha: 0.3 } as Smoothing,
  neutralBand: 0.5,
  maxSessions: 100_000,
  late: 'unsmoothed' as const,
};

/** Rolling state of one session: the last window end and what the smoothing method needs. */
export interface RollingState {
  lastWindowEnd: number;
  /** EMA: the current average. */
  ema: number;
  /** Mean: ring of the last n clamped window scores, and its running sum. */
  recent: number[];
  next: number;
  sum: number;
}

type SessionState = RollingState;

const copyState = (s: RollingState): RollingState => ({ ...s, recent: [...s.recent] });

export function clampScore(x: number): number {
  return Math.min(SCORE_MAX, Math.max(SCORE_MIN, x));
}

/** NEUTRAL inside the band (|score| < band) and at exactly 0, else the sign. */
export function polarityOf(score: number, neutralBand: number): Polarity {
  if (score === 0 || Math.abs(score) < neutralBand) return 'NEUTRAL';
  return score > 0 ? 'POSITIVE' : 'NEGATIVE';
}

/**
 * How sure the label is, in 0..1: the distance of the score from the nearest edge of the
 * neutral band, scaled by the room on that side. Inside the band: (band - |s|) / band, so 1 at 0
 * and 0 at the band's edge; outside: (|s| - band) / (3 - band), so 0 at the edge and 1 at ±3.
 */
export function confidenceOf(score: number, neutralBand: number): number {
  const a = Math.abs(score);
  const c = a < neutralBand ? (neutralBand - a) / neutralBand : (a - neutralBand) / (SCORE_MAX - neutralBand);
  return Math.min(1, Math.max(0, c));
}

function validate(o: RollingScoreOptions): void {
  const s = o.smoothing;
  if (s !== undefined) {
    if (s.method === 'ema' && !(s.alpha > 0 && s.alpha <= 1)) {
      throw new RangeError(`rollingScore: smoothing.alpha must be in (0, 1], got ${s.alpha}`);
    }
    if (s.method === 'mean' && !(Number.isInteger(s.windows) && s.windows >= 1)) {
      throw new RangeError(`rollingScore: smoothing.windows must be an integer >= 1, got ${s.windows}`);
    }
    if (s.method !== 'ema' && s.method !== 'mean') {
      throw new RangeError(`rollingScore: smoothing.method must be 'ema' or 'mean', got ${JSON.stringify((s as { method: unknown }).method)}`);
    }
  }
  if (o.neutralBand !== undefined && !(o.neutralBand >= 0 && o.neutralBand < SCORE_MAX)) {
    throw new RangeError(`rollingScore: neutralBand must be in [0, 3), got ${o.neutralBand}`);
  }
  if (o.maxSessions !== undefined && !(Number.isInteger(o.maxSessions) && o.maxSessions >= 1)) {
    throw new RangeError(`rollingScore: maxSessions must be an integer >= 1, got ${o.maxSessions}`);
  }
}

/**
 * Turns each session's window results into {@link Score} records carrying a rolling (smoothed)
 * score, emitted synchronously, one per input, so a session's scores leave in the order its
 * windows arrived.
 *
 * - Smoothing, per session: `ema` gives s = alpha * x + (1 - alpha) * s_prev, starting at the
 *   first window's x; `mean` gives the mean of the last `windows` window scores (fewer at the
 *   start). x is the window score clamped to [-3, 3], so the rolling score is in [-3, 3] too.
 * - Polarity: NEUTRAL when |score| < neutralBand, else POSITIVE / NEGATIVE by sign.
 *   Confidence: see {@link confidenceOf}.
 * - latencyMs = now() - closedAt; emittedAt = now().
 * - Order: a window whose windowEnd is older than its session's last is `late`: by default it is
 *   emitted with score = its own clamped windowScore (smoothing skipped) and the state is left
 *   as it was; with `late: 'drop'` nothing is emitted. A window with the same windowEnd as the
 *   last is a `duplicate` (a redelivery): never emitted, since a second score for the same
 *   (sessionId, windowEnd) would contradict the first. A non-finite windowScore is `invalid`
 *   and not emitted. Each of these calls `onSkip`.
 * - State: one entry per session, freed when the session id arrives on `expired` (a window of
 *   that session arriving later starts from scratch), and at most `maxSessions` entries: the
 *   least recently scored session is evicted (`onEvict`) to make room.
 *
 * Errors from the source or from `expired` are passed on; `expired` completing changes nothing.
 *
 * @example
 * results$.pipe(rollingScore({ smoothing: { method: 'ema', alpha: 0.3 }, expired: expired$ }))
 *   .subscribe((score) => publish(score));
 */
export function rollingScore(options: RollingScoreOptions = {}): OperatorFunction<WindowResult, Score> {
  validate(options);
  const smoothing = options.smoothing ?? DEFAULT_ROLLING_SCORE_OPTIONS.smoothing;
  const neutralBand = options.neutralBand ?? DEFAULT_ROLLING_SCORE_OPTIONS.neutralBand;
  const maxSessions = options.maxSessions ?? DEFAULT_ROLLING_SCORE_OPTIONS.maxSessions;
  const late = options.late ?? DEFAULT_ROLLING_SCORE_OPTIONS.late;
  const now = options.now ?? Date.now;

  return (source) =>
    new Observable<Score>((destination) => {
      // Map order is recency order: a session is re-inserted each time it is scored.
      const sessions = new Map<string, SessionState>();

      const toScore = (r: WindowResult, score: number, windowScore: number): Score => {
        const t = now();
        return {
          sessionId: r.sessionId,
          windowStart: r.windowStart,
          windowEnd: r.windowEnd,
          score,
          windowScore,
          polarity: polarityOf(score, neutralBand),
          confidence: confidenceOf(score, neutralBand),
          contributions: r.contributions,
          modalities: r.modalities,
          modalitiesUsed: r.modalitiesUsed ?? null,
          modelVersion: r.modelVersion,
          records: r.records,
          latencyMs: t - r.closedAt,
          emittedAt: t,
        };
      };

      const makeRoom = () => {
        if (sessions.size >= maxSessions) {
          const oldest = sessions.keys().next().value as string;
          sessions.delete(oldest);
          options.onEvict?.(oldest);
        }
      };
      /** The session's state here, or the one restored from before a restart (taken in). */
      const stateOf = (sessionId: string): SessionState | undefined => {
        const here = sessions.get(sessionId);
        if (here !== undefined || !options.restore) return here;
        const restored = options.restore(sessionId);
        if (restored === undefined) return undefined;
        makeRoom();
        const state = copyState(restored);
        sessions.set(sessionId, state);
        return state;
      };

      const update = (r: WindowResult, x: number): number => {
        let state = stateOf(r.sessionId);
        if (state === undefined) {
          makeRoom();
          state = { lastWindowEnd: r.windowEnd, ema: x, recent: [], next: 0, sum: 0 };
        } else {
          sessions.delete(r.sessionId);
          state.lastWindowEnd = r.windowEnd;
          if (smoothing.method === 'ema') state.ema = smoothing.alpha * x + (1 - smoothing.alpha) * state.ema;
        }
        sessions.set(r.sessionId, state);
        if (smoothing.method === 'ema') {
          options.onUpdate?.(r.sessionId, copyState(state));
          return clampScore(state.ema);
        }
        // Mean over a ring of the last n scores. Once full, the sum is recomputed rather than
        // updated by add-and-subtract, so floating-point drift cannot build up over a long call.
        if (state.recent.length < smoothing.windows) {
          state.recent.push(x);
          state.sum += x;
        } else {
          state.recent[state.next] = x;
          state.next = (state.next + 1) % smoothing.windows;
          state.sum = state.recent.reduce((a, b) => a + b, 0);
        }
        options.onUpdate?.(r.sessionId, copyState(state));
        return clampScore(state.sum / state.recent.length);
      };

      const expirySubscription = options.expired?.subscribe({
        next: (sessionId) => sessions.delete(sessionId),
        error: (err: unknown) => destination.error(err),
      });

      const sourceSubscription = source.subscribe({
        next: (r) => {
          if (!Number.isFinite(r.windowScore)) {
            options.onSkip?.(r, 'invalid');
            return;
          }
          const x = clampScore(r.windowScore);
          const last = stateOf(r.sessionId)?.lastWindowEnd;
          if (last !== undefined && r.windowEnd <= last) {
            const reason: SkipReason = r.windowEnd === last ? 'duplicate' : 'late';
            options.onSkip?.(r, reason);
            if (reason === 'late' && late === 'unsmoothed') destination.next(toScore(r, x, x));
            return;
          }
          destination.next(toScore(r, update(r, x), x));
        },
        error: (err: unknown) => destination.error(err),
        complete: () => destination.complete(),
      });

      return () => {
        sourceSubscription.unsubscribe();
        expirySubscription?.unsubscribe();
        sessions.clear();
      };
    });
}
