/**
 * Transport-neutral shapes of what comes off and goes onto the message bus. The Kafka adapter in
 * `kafka/` produces and consumes these; nothing outside that folder imports kafkajs.
 */
/** Where an input record came from on the bus (Kafka); the commit tracker counts these. */
export interface SourcePosition {
  topic: string;
  partition: number;
  /** Decimal string (Kafka offsets are 64-bit). */
  offset: string;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A position to commit: `offset` is the next offset to read (last done + 1), decimal string. */
export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * One record as it arrived, before decoding. It is its own {@link SourcePosition}
 * (`topic`, `partition`, `offset`), so it can be handed to the commit tracker as is.
 */
export interface RawRecord extends SourcePosition {
  key: Buffer | null;
  value: Buffer | null;
  /** Broker or producer timestamp of the record, epoch ms (not the event time). */
  timestamp: number;
}

/** Bytes a raw record holds in memory, for buffer limits. */
export function rawRecordBytes(record: Pick<RawRecord, 'key' | 'value'>): number {
  return (record.key?.length ?? 0) + (record.value?.length ?? 0);
}

/** `topic/partition`: a map key for a topic-partition. */
export function partitionKey(tp: TopicPartition): string {
  return `${tp.topic}/${tp.partition}`;
}
