/**
 * The changelog topic (`<prefix>changelog`, cleanup.policy=compact): per session, the state a
 * restarted or newly assigned instance needs, keyed by session id and written to the partition
 * number of the session's input records (co-partitioned), so a partition's sessions are read back
 * from the same partition number. The pipeline decides what the values hold (pipeline/scoreState.ts).
 *
 * Reading back: a consumer in a group of its own reads the given partitions from the beginning up
 * to the end offsets fetched first, with read_committed (kafkajs's default), so only state written
 * in committed transactions is seen; an open transaction (an instance killed mid-transaction) is
 * waited out until the broker aborts it (`kafka.transactionTimeoutMs`).
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { silentLogger, type Logger } from '../../log.js';

export const changelogTopicName = (prefix: string) => `${prefix}changelog`;

/** Creates the changelog topic (compacted) if missing; true when created. */
export async function ensureChangelogTopic(kafka: Kafka, topic: string, partitions: number): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if ((await admin.listTopics()).includes(topic)) return false;
    return await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    });
  } finally {
    await admin.disconnect();
  }
}

export interface ChangelogEntry {
  partition: number;
  key: string;
  /** null: a tombstone (the session's state was deleted). */
  value: Buffer | null;
}

/** Reads `partitions` of the changelog to their current end; the last entry per key wins (tombstones included). */
export async function readChangelog(
  kafka: Kafka,
  topic: string,
  partitions: readonly number[],
  logger: Logger = silentLogger,
  timeoutMs = 120_000,
): Promise<ChangelogEntry[]> {
  const log = logger.child({ component: 'changelog' });
  const wanted = new Set(partitions);
  if (wanted.size === 0) return [];
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const left = new Map<number, bigint>();
  for (const p of ends) if (wanted.has(p.partition) && BigInt(p.high) > BigInt(p.low)) left.set(p.partition, BigInt(p.high));
  if (left.size === 0) return [];
  const latest = new Map<string, ChangelogEntry>();
  const consumer = kafka.consumer({ groupId: `${topic}-restore-${randomUUID()}`, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  const reached = (partition: number, next: bigint) => {
    const end = left.get(partition);
    if (end !== undefined && next >= end) left.delete(partition);
  };
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading changelog ${topic} partitions ${[...left.keys()].join(',')} took over ${timeoutMs} ms`)),
        timeoutMs,
      );
      const check = () => {
        if (left.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      // Batches of control records or aborted writes only reach no eachBatch, but this event.
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        reached(e.payload.partition, BigInt(e.payload.lastOffset) + 1n);
        check();
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (!wanted.has(batch.partition)) return;
            for (const m of batch.messages) {
              const key = m.key?.toString('utf8');
              if (key !== undefined) latest.set(key, { partition: batch.partition, key, value: m.value ?? null });
            }
          },
        })
        .catch(reject);
    });
    await done;
  } finally {
    await consumer.disconnect().catch((err: unknown) => log.debug({ err }, 'restore consumer disconnect failed'));
  }
  log.info({ partitions: [...wanted], entries: latest.size }, 'changelog read');
  return [...latest.values()];
}
