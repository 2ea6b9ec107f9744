/**
 * The input consumer, with fetch limits that bound what kafkajs itself holds in memory
 * (at most `maxBytes` per fetch, `maxBytesPerPartition` per partition) and a short fetch wait so
 * a resumed partition is served again quickly. Offsets are committed by us (see committer.ts).
 * Partitions are assigned co-partitioned (assigner.ts): partition p of every input topic goes to
 * one member, so one instance sees all of a session's modalities. The session timeout (default
 * 8 s, heartbeats every second) bounds how long a killed member's partitions wait for a new owner.
 */
import type { Consumer, Kafka } from 'kafkajs';
import { coPartitionedAssigner } from './assigner.js';

export interface InputConsumerOptions {
  groupId: string;
  /** Largest fetch response (bytes); kafkajs holds about this much fetched data. Default 16 MiB. */
  maxBytes?: number;
  /** Largest fetch per partition (bytes); default 2 MiB (above the 1 MiB record limit). */
  maxBytesPerPartition?: number;
  /** How long the broker may hold a fetch open, and the idle poll while all partitions are paused. Default 500 ms. */
  maxWaitTimeInMs?: number;
  /** Default 8000 (kafka.sessionTimeoutMs). */
  sessionTimeoutMs?: number;
  /** Default 1000 (kafka.heartbeatIntervalMs). */
  heartbeatIntervalMs?: number;
}

export function createInputConsumer(kafka: Kafka, options: InputConsumerOptions): Consumer {
  return kafka.consumer({
    groupId: options.groupId,
    maxBytes: options.maxBytes ?? 16 * 1024 * 1024,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 2 * 1024 * 1024,
    maxWaitTimeInMs: options.maxWaitTimeInMs ?? 500,
    sessionTimeout: options.sessionTimeoutMs ?? 8_000,
    heartbeatInterval: options.heartbeatIntervalMs ?? 1_000,
    partitionAssigners: [coPartitionedAssigner],
    // Topics are created up front (topics.ts) with the partition count we want.
    allowAutoTopicCreation: false,
  });
}
