import type { Score } from '../schemas/records.js';

/**
 * The recent scores of each session, for new subscribers: at most `historySize` scores a session
 * (oldest dropped first), at most `maxSessions` sessions (the least recently updated dropped
 * first). Scores are kept in windowEnd order; a score with a windowEnd already held replaces it,
 * since scores are idempotent by (sessionId, windowEnd).
 */
export class ScoreHistory {
  // Map order is recency order: a session is re-inserted on each add.
  private readonly bySession = new Map<string, Score[]>();

  constructor(
    readonly historySize: number,
    readonly maxSessions: number,
  ) {
    if (!(Number.isInteger(historySize) && historySize >= 1)) {
      throw new RangeError(`historySize must be an integer >= 1, got ${historySize}`);
    }
    if (!(Number.isInteger(maxSessions) && maxSessions >= 1)) {
      throw new RangeError(`maxHistorySessions must be an integer >= 1, got ${maxSessions}`);
    }
  }

  get size(): number {
    return this.bySession.size;
  }

  add(score: Score): void {
    let scores = this.bySession.get(score.sessionId);
    if (scores === undefined) {
      if (this.bySession.size >= this.maxSessions) {
        this.bySession.delete(this.bySession.keys().next().value as string);
      }
      scores = [];
    } else {
      this.bySession.delete(score.sessionId);
    }
    this.bySession.set(score.sessionId, scores);
    insertInOrder(scores, score);
    if (scores.length > this.historySize) scores.splice(0, scores.length - this.historySize);
  }

  /** The session's scores, oldest first; empty when unknown. */
  get(sessionId: string): readonly Score[] {
    return this.bySession.get(sessionId) ?? [];
  }

  /** Sessions, least recently updated first. */
  sessionIds(): IterableIterator<string> {
    return this.bySession.keys();
  }

  forget(sessionId: string): void {
    this.bySession.delete(sessionId);
  }

  clear(): void {
    this.bySession.clear();
  }
}

function insertInOrder(scores: Score[], score: Score): void {
  let i = scores.length;
  while (i > 0 && scores[i - 1]!.windowEnd > score.windowEnd) i--;
  if (i > 0 && scores[i - 1]!.windowEnd === score.windowEnd) scores[i - 1] = score;
  else scores.splice(i, 0, score);
}
