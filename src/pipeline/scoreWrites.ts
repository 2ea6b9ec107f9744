/**
 * Writing scores with their sessions' changelog state (scoreState.ts): a group's scores, the new
 * state of their sessions and the last state of sessions that ended go out together (exactly-once:
 * in one transaction, the records behind the scores settled when it takes them), and ended
 * sessions are deleted from the changelog once their records are all committed.
 */
import type { Logger } from '../log.js';
import type { KafkaSink } from '../transport/kafka/index.js';
import type { CommitTracker } from '../transport/commitTracker.js';
import type { ScoredWindow, ScoringOutput } from './scoring.js';
import type { ScoreStateStore } from './scoreState.js';

export interface ScoreWriteParts {
  sink: Pick<KafkaSink, 'sendScores' | 'sendRaw'>;
  tracker: Pick<CommitTracker, 'windowDone'>;
  store: ScoreStateStore;
  changelogTopic: string;
}

/** Writes the scores of `group` and its changelog messages; resolves once written (committed). */
export async function writeScoreGroup(parts: ScoreWriteParts, group: readonly ScoringOutput[]): Promise<ScoredWindow[]> {
  const { sink, tracker, store } = parts;
  const scored = group.filter((s): s is ScoredWindow => s.kind === 'score');
  const changelog = group.flatMap((s) => {
    if (s.kind === 'ended') return store.ended(s.sessionId) ?? [];
    const partition = s.positions[0]?.partition;
    return s.state && partition !== undefined ? [store.scored(s.score.sessionId, partition, s.state, s.positions)] : [];
  });
  const settleScored = () => {
    for (const s of scored) tracker.windowDone(s.positions);
  };
  await Promise.all([
    sink.sendScores(
      scored.map((s) => s.score),
      settleScored,
    ),
    changelog.length > 0 ? sink.sendRaw(parts.changelogTopic, changelog) : undefined,
  ]);
  return scored;
}

/** Every second: tombstones for ended sessions whose records the committed offsets (`topic/partition` -> offset) have passed. */
export function startTombstoning(parts: ScoreWriteParts, committed: Readonly<Record<string, string>>, log: Logger): () => void {
  const timer = setInterval(() => {
    const tombstones = parts.store.tombstones(committed);
    if (tombstones.length > 0)
      parts.sink.sendRaw(parts.changelogTopic, tombstones).catch((err: unknown) => log.warn({ err }, 'changelog tombstones not written'));
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}
