/**
 * Commits what the tracker says is committable, every `intervalMs` and once more on `stop()`.
 * Only partitions whose commit point moved are sent. Commits run one at a time; a failed periodic
 * commit (e.g. during a rebalance) is logged and counted, and the next one catches up.
 *
 * Call `stop()` before the consumer leaves its group (consumer.stop / disconnect): a commit from a
 * member that has left is refused.
 */
import type { Consumer } from 'kafkajs';
import { silentLogger, type Logger } from '../../log.js';
import type { CommitTracker } from '../commitTracker.js';
import { partitionKey, type TopicPartitionOffset } from '../types.js';
import { createTransportStats, type TransportStats } from './stats.js';
import type { TransportHealth } from '../health.js';
import { periodicFlush } from '../periodicFlush.js';

/** Failed commits in a row before the committer reports a problem: one fails in any rebalance. */
const FAILURES_BEFORE_PROBLEM = 3;

export interface CommitterOptions {
  consumer: Pick<Consumer, 'commitOffsets'>;
  tracker: Pick<CommitTracker, 'committable'>;
  /** Milliseconds between commits; default 1000. */
  intervalMs?: number;
  stats?: TransportStats;
  logger?: Logger;
  /** Told when commits keep failing ('committer', e.g. the broker is away) and of the next success. */
  health?: TransportHealth;
}

export interface Committer {
  /** Starts the periodic commits. */
  start(): void;
  /** Commits now (after any commit in flight); resolves with what was committed. */
  commitNow(): Promise<TopicPartitionOffset[]>;
  /** Stops the timer and makes a final commit; rejects if that commit fails. */
  stop(): Promise<TopicPartitionOffset[]>;
  readonly stats: TransportStats;
}

export function createCommitter(options: CommitterOptions): Committer {
  const { consumer, tracker } = options;
  const intervalMs = options.intervalMs ?? 1000;
  if (!(intervalMs > 0)) throw new Error(`commit intervalMs must be > 0, got ${intervalMs}`);
  const stats = options.stats ?? createTransportStats();
  const log = (options.logger ?? silentLogger).child({ component: 'kafka-committer' });
  const lastCommitted = new Map<string, string>();
  let failuresInARow = 0;

  async function commitOnce(): Promise<TopicPartitionOffset[]> {
    const current = tracker.committable();
    // Forget partitions the tracker dropped (revoked), so a later reassignment commits afresh.
    const live = new Set(current.map(partitionKey));
    for (const key of [...lastCommitted.keys()]) if (!live.has(key)) lastCommitted.delete(key);
    const changed = current.filter((o) => lastCommitted.get(partitionKey(o)) !== o.offset);
    if (changed.length === 0) return [];
    try {
      await consumer.commitOffsets(changed);
    } catch (err) {
      stats.commitErrors++;
      if (++failuresInARow >= FAILURES_BEFORE_PROBLEM) {
        options.health?.problem('committer', `${failuresInARow} offset commits in a row failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      throw err;
    }
    failuresInARow = 0;
    options.health?.ok('committer');
    for (const o of changed) {
      lastCommitted.set(partitionKey(o), o.offset);
      stats.committed[partitionKey(o)] = o.offset;
    }
    stats.commits++;
    log.debug({ offsets: changed }, 'offsets committed');
    return changed;
  }

  const periodic = periodicFlush(commitOnce, intervalMs, (err) => log.warn({ err }, 'offset commit failed; retrying at the next interval'));
  return { start: periodic.start, commitNow: periodic.commitNow, stop: periodic.stop, stats };
}
