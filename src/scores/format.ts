import type { Score } from '../schemas/records.js';

/** One line a person reads: session, window times (UTC), rolling and window score, polarity, a bar. */
export function formatScore(s: Score): string {
  const bar = '#'.repeat(Math.round(Math.abs(s.score) * 5));
  const sign = s.score >= 0 ? '+' : '-';
  return (
    `${s.sessionId} [${new Date(s.windowStart).toISOString().slice(11, 19)}-${new Date(s.windowEnd).toISOString().slice(11, 19)}] ` +
    `score ${s.score >= 0 ? '+' : ''}${s.score.toFixed(2)} (window ${s.windowScore.toFixed(2)}) ${s.polarity.padEnd(8)} ${sign}${bar}`
  );
}
