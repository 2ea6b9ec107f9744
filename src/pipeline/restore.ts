/**
 * Restoring score state before a newly assigned partition is read: the source's `beforeAssigned`
 * is called once per input topic-partition; the partitions of one rebalance are read from the
 * changelog together (one read per partition number, co-partitioned), and a revoked partition's
 * state is dropped so a later assignment reads it afresh.
 */
import type { Logger } from '../log.js';
import type { TopicPartition } from '../transport/types.js';
import type { ScoreStateStore } from './scoreState.js';

export interface Restorer {
  /** For the Kafka source's `beforeAssigned`. */
  beforeAssigned(tp: TopicPartition): Promise<void>;
  /** Partitions revoked: their state goes, and the next assignment restores them again. */
  revoked(partitions: readonly number[]): void;
  readonly stats: { restores: number; sessionsRestored: number; lastRestoreMs: number };
}

export function createRestorer(options: {
  store: ScoreStateStore;
  read: (partitions: number[]) => Promise<Array<{ partition: number; key: string; value: Buffer | null }>>;
  logger: Logger;
}): Restorer {
  const log = options.logger.child({ component: 'restore' });
  const ready = new Map<number, Promise<void>>();
  const stats = { restores: 0, sessionsRestored: 0, lastRestoreMs: 0 };
  let batch: { partitions: number[]; done: Promise<void> } | null = null;

  const start = (partition: number): Promise<void> => {
    if (!batch) {
      const partitions: number[] = [];
      const done = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        batch = null;
        const t0 = Date.now();
        const entries = await options.read(partitions);
        // Revoked while reading: not ours any more.
        const kept = entries.filter((e) => ready.has(e.partition));
        options.store.load(kept);
        stats.restores++;
        stats.sessionsRestored += kept.filter((e) => e.value !== null).length;
        stats.lastRestoreMs = Date.now() - t0;
        log.info({ partitions, sessions: stats.sessionsRestored, ms: stats.lastRestoreMs }, 'score state restored from the changelog');
      });
      batch = { partitions, done };
    }
    batch.partitions.push(partition);
    return batch.done;
  };

  return {
    beforeAssigned(tp) {
      let p = ready.get(tp.partition);
      if (!p) {
        p = start(tp.partition);
        ready.set(tp.partition, p);
      }
      return p;
    },
    revoked(partitions) {
      for (const p of partitions) ready.delete(p);
      options.store.dropPartitions(new Set(partitions));
    },
    stats,
  };
}
