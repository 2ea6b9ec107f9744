// The page's view of the sessions: scores merged by window end (history after a reconnect
// overlaps live scores), bounded in points per session and in sessions. No DOM here.

export const MAX_SESSIONS = 500;
export const MAX_POINTS = 600;

/**
 * @typedef {{ sessionId: string, windowStart: number, windowEnd: number, score: number, windowScore: number,
 *   polarity: 'NEGATIVE'|'NEUTRAL'|'POSITIVE', confidence: number,
 *   contributions: { text: number, audio: number, video: number },
 *   modalities: { text: boolean, audio: boolean, video: boolean },
 *   modalitiesUsed: { text: boolean, audio: boolean, video: boolean } | null,
 *   modelVersion: string, records: number, latencyMs: number, emittedAt: number }} Score
 * @typedef {{ id: string, scores: Score[], windows: number, latest: Score, updatedAt: number, startedAt: number }} Session
 *   startedAt: the earliest emittedAt of the session's scores seen (kept when old points are dropped).
 */

export function createSessionStore({ maxSessions = MAX_SESSIONS, maxPoints = MAX_POINTS } = {}) {
  /** @type {Map<string, Session>} least recently updated first */
  const sessions = new Map();

  /** Adds scores of one session (any order, duplicates by window end replaced); returns the session. */
  function add(sessionId, scores, receivedAt = Date.now()) {
    let s = sessions.get(sessionId);
    if (s === undefined) {
      s = { id: sessionId, scores: [], windows: 0, latest: scores[0], updatedAt: receivedAt, startedAt: Infinity };
    }
    sessions.delete(sessionId); // re-insert: most recently updated last
    sessions.set(sessionId, s);
    for (const score of scores) {
      s.startedAt = Math.min(s.startedAt, score.emittedAt);
      const list = s.scores;
      // Binary search the insertion point by window end.
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (list[mid].windowEnd < score.windowEnd) lo = mid + 1;
        else hi = mid;
      }
      if (lo < list.length && list[lo].windowEnd === score.windowEnd) {
        list[lo] = score;
      } else {
        list.splice(lo, 0, score);
        s.windows++;
      }
      if (list.length > maxPoints) list.splice(0, list.length - maxPoints);
    }
    if (s.scores.length > 0) s.latest = s.scores[s.scores.length - 1];
    s.updatedAt = Math.max(s.updatedAt, receivedAt);
    while (sessions.size > maxSessions) sessions.delete(sessions.keys().next().value);
    return s;
  }

  return {
    add,
    get: (id) => sessions.get(id),
    get size() {
      return sessions.size;
    },
    /** Most recently scored first (the server's emittedAt of each session's latest score). */
    list: () => [...sessions.values()].sort((a, b) => b.latest.emittedAt - a.latest.emittedAt),
    /**
     * The newest session: the one whose first score came last (not the most recently scored,
     * which flips between sessions scored at the same time); undefined when there is none.
     */
    newest() {
      let newest;
      for (const s of sessions.values()) {
        if (newest === undefined || s.startedAt > newest.startedAt || (s.startedAt === newest.startedAt && s.latest.emittedAt > newest.latest.emittedAt))
          newest = s;
      }
      return newest;
    },
  };
}
