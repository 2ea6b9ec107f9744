/**
 * Counters of the Kafka transport, one plain object shared by the source, committer and sink
 * and read by metrics and tests. Components only ever increment or set fields.
 */
import type { DeadLetterCode } from '../../schemas/records.js';

export interface TransportStats {
  /** Records handed downstream by the source. */
  consumed: number;
  /** Records fetched while the buffer was full; left unresolved, so Kafka serves them again. */
  refused: number;
  /** Records served again after a rebalance that had already been handed downstream; skipped. */
  redelivered: number;
  /** Times the source paused fetching because its buffer was full, and resumed it. */
  paused: number;
  resumed: number;
  isPaused: boolean;
  /** Times each downstream stage held fetching (`KafkaSource.hold`), and the stages holding it now. */
  holds: Record<string, number>;
  heldBy: string[];
  /**
   * Consumer lag: records in the assigned partitions not yet handed downstream (end offset minus
   * next offset), summed; refreshed every `kafka.lagIntervalMs`. null until first measured.
   */
  lag: number | null;
  /** The largest lag measured. */
  maxLag: number;
  /** Records (and their bytes) handed downstream and not yet released. */
  buffered: number;
  bufferedBytes: number;
  /** The highest `buffered` / `bufferedBytes` seen: evidence the bound held. */
  maxBuffered: number;
  maxBufferedBytes: number;
  /** Successful offset commits, and the last offset committed per `topic/partition`. */
  commits: number;
  commitErrors: number;
  committed: Record<string, string>;
  /** Sends the sink tried again after kafkajs gave up (broker away), consumer restarts after a crash. */
  sendRetries: number;
  consumerRestarts: number;
  /** Records written by the sink, per topic. */
  produced: Record<string, number>;
  /** Dead-lettered records by code (late records count under LATE). */
  deadLettered: Partial<Record<DeadLetterCode, number>>;
  /** Rebalances seen (group joins) and partitions revoked by them. */
  rebalances: number;
  revokedPartitions: number;
  /** Consumer lag of the whole group per input `topic/partition` (records: log end less committed offset), from the last poll (groupLag.ts). */
  groupLag: Record<string, number>;
  /** Group lag polls that succeeded, and that failed (the last values then stay). */
  groupLagPolls: number;
  groupLagErrors: number;
}

export function createTransportStats(): TransportStats {
  return {
    consumed: 0,
    refused: 0,
    redelivered: 0,
    paused: 0,
    resumed: 0,
    isPaused: false,
    holds: {},
    heldBy: [],
    lag: null,
    maxLag: 0,
    buffered: 0,
    bufferedBytes: 0,
    maxBuffered: 0,
    maxBufferedBytes: 0,
    commits: 0,
    commitErrors: 0,
    committed: {},
    sendRetries: 0,
    consumerRestarts: 0,
    produced: {},
    deadLettered: {},
    rebalances: 0,
    revokedPartitions: 0,
    groupLag: {},
    groupLagPolls: 0,
    groupLagErrors: 0,
  };
}
