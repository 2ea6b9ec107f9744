/**
 * Which sessions a token may see (its tenant's scope): every session, or the sessions whose id
 * starts with one of its prefixes. Pure; the server asks it before anything about a session
 * leaves (scores, history, the session list, alerts, `ended` notices, metrics).
 */
import type { ScoreFilter } from './protocol.js';

export interface SessionScope {
  /** True: every session (a flat-list token, or no authentication). */
  readonly all: boolean;
  /** The session-id prefixes seen; empty when `all`. */
  readonly prefixes: readonly string[];
  covers(sessionId: string): boolean;
}

export const SEES_ALL: SessionScope = { all: true, prefixes: [], covers: () => true };

/** '*' sees all; a list sees the sessions starting with any of its (non-empty) prefixes. */
export function sessionScope(prefixes: readonly string[] | '*'): SessionScope {
  if (prefixes === '*') return SEES_ALL;
  if (prefixes.length === 0 || prefixes.some((p) => typeof p !== 'string' || p.length === 0)) {
    throw new RangeError(`a token's sessionPrefixes must be '*' or a non-empty list of non-empty prefixes, got ${JSON.stringify(prefixes)}`);
  }
  // A prefix covered by a shorter one adds nothing: keep the shortest, sorted, so checks are few.
  const kept = [...new Set(prefixes)].sort().filter((p, i, all) => !all.slice(0, i).some((q) => p.startsWith(q)));
  return { all: false, prefixes: kept, covers: (sessionId) => kept.some((p) => sessionId.startsWith(p)) };
}

/**
 * Whether some session id could start with `prefix` and be in the scope: `prefix` extends one of
 * the scope's prefixes, or one of them extends `prefix` (then only that part of it is seen).
 */
export function prefixOverlaps(scope: SessionScope, prefix: string): boolean {
  return scope.all || scope.prefixes.some((p) => prefix.startsWith(p) || p.startsWith(prefix));
}

/** Whether a filter subscription can ever match a session of the scope (a filter without a prefix can). */
export function filterOverlaps(scope: SessionScope, filter: ScoreFilter): boolean {
  return filter.sessionPrefix === undefined || prefixOverlaps(scope, filter.sessionPrefix);
}
