/**
 * Writes Avro records (Confluent wire format) to Kafka with an idempotent producer, keyed by
 * session id so one session stays on one partition and in order. Used for the scores, dead-letter
 * and late topics.
 *
 * Dead letters carry the original record's bytes cut to `maxDeadLetterValueBytes` (default
 * 64 KiB): the original may be up to the input limit (1 MiB), and the whole dead letter must
 * still fit under the broker's message size limit (1 MiB by default).
 */
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { createCodec, type Codec, type RecordKind, type RecordTypes } from '../../schemas/codec.js';
import type { DeadLetter, DeadLetterCode, Score } from '../../schemas/records.js';
import { silentLogger, type Logger } from '../../log.js';
import type { RawRecord } from '../types.js';
import { createTransportStats, type TransportStats } from './stats.js';
import type { TopicNames } from '../topics.js';
import type { TransportHealth } from '../health.js';
import { retryUntilDone, type Backoff } from '../retry.js';
import { isRetriableKafkaError } from './client.js';
import type { TransactionalWriter } from './transactional.js';

export const DEFAULT_DEAD_LETTER_VALUE_BYTES = 64 * 1024;
const MAX_REASON_CHARS = 4096;

/** An idempotent producer: no duplicates from retries, per-partition order kept (one request in flight). */
export function createIdempotentProducer(kafka: Kafka): Producer {
  // The default (murmur2, Java-compatible) partitioner, named so kafkajs does not warn about its v2 change.
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
}

export interface DeadLetterOptions {
  maxValueBytes?: number;
  sessionId?: string | null;
  /** Wall-clock ms the record was routed; default now. */
  at?: number;
}

/** The dead-letter record for a raw input record, its key and value cut to `maxValueBytes`. */
export function buildDeadLetter(raw: RawRecord, code: DeadLetterCode, reason: string, options: DeadLetterOptions = {}): DeadLetter {
  const max = options.maxValueBytes ?? DEFAULT_DEAD_LETTER_VALUE_BYTES;
  const cut = (b: Buffer | null) => (b && b.length > max ? b.subarray(0, max) : b);
  let text = reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}...` : reason;
  if (raw.value && raw.value.length > max) text += ` (value cut to ${max} of ${raw.value.length} bytes)`;
  return {
    sourceTopic: raw.topic,
    partition: raw.partition,
    offset: raw.offset,
    key: cut(raw.key),
    value: cut(raw.value),
    reason: text,
    code,
    sessionId: options.sessionId ?? null,
    at: options.at ?? Date.now(),
  };
}

export interface KafkaSinkOptions {
  /** A connected producer, ideally from {@link createIdempotentProducer}. */
  producer: Pick<Producer, 'send'>;
  topics: Pick<TopicNames, 'scores' | 'deadLetter' | 'late'>;
  codec?: Codec;
  maxDeadLetterValueBytes?: number;
  stats?: TransportStats;
  logger?: Logger;
  now?: () => number;
  /**
   * A send that kafkajs gave up on (broker away) is tried again after these waits, for as long as
   * it takes; default 300 ms growing to 5 s. Sends of one caller stay in order: each resolves only
   * once written.
   */
  backoff?: Backoff;
  /** Told of failed sends ('producer') and of the next success. */
  health?: TransportHealth;
  /** Ends the retrying (on stop): a send still failing then rejects. */
  signal?: AbortSignal;
  /**
   * Exactly-once: every write goes into the writer's next transaction (transactional.ts) instead
   * of a plain send, and resolves once that committed. Without it, writes are acknowledged sends.
   */
  writer?: TransactionalWriter;
}

/**
 * Runs once the write is done (at least once: acknowledged) or, exactly-once, when its transaction
 * takes it, before the offsets committed with it are read: settle the records behind the write here.
 */
export type OnWritten = () => void;

export interface KafkaSink {
  /** Encodes and writes records of one kind to `topic`, key = their session id; resolves when acknowledged. */
  send<K extends RecordKind>(topic: string, kind: K, records: readonly RecordTypes[K][], onWritten?: OnWritten): Promise<void>;
  sendScores(scores: readonly Score[], onWritten?: OnWritten): Promise<void>;
  /** Writes messages as they are (key, value bytes, partition), e.g. the changelog. */
  sendRaw(topic: string, messages: Message[], onWritten?: OnWritten): Promise<void>;
  /** Writes a dead letter for `raw` to the dead-letter topic; resolves with what was written. */
  deadLetter(raw: RawRecord, code: DeadLetterCode, reason: string, sessionId?: string | null, onWritten?: OnWritten): Promise<DeadLetter>;
  /** Writes a record that arrived after its windows closed to the late topic (code LATE). */
  late(raw: RawRecord, reason: string, sessionId?: string | null, onWritten?: OnWritten): Promise<DeadLetter>;
  readonly stats: TransportStats;
}

function keyOf(record: unknown): string | Buffer | null {
  const r = record as { sessionId?: unknown; key?: unknown };
  if (typeof r.sessionId === 'string') return r.sessionId;
  return Buffer.isBuffer(r.key) ? r.key : null;
}

export function createKafkaSink(options: KafkaSinkOptions): KafkaSink {
  const { producer, topics } = options;
  const codec = options.codec ?? createCodec();
  const stats = options.stats ?? createTransportStats();
  const now = options.now ?? Date.now;
  const maxValueBytes = options.maxDeadLetterValueBytes ?? DEFAULT_DEAD_LETTER_VALUE_BYTES;
  const log = (options.logger ?? silentLogger).child({ component: 'kafka-sink' });
  const backoff = options.backoff ?? { initialMs: 300, maxMs: 5000 };
  const health = options.health;

  async function send<K extends RecordKind>(topic: string, kind: K, records: readonly RecordTypes[K][], onWritten?: OnWritten): Promise<void> {
    if (records.length === 0) {
      onWritten?.();
      return;
    }
    const messages: Message[] = records.map((r) => ({ key: keyOf(r), value: codec.encode(r, kind) }));
    await sendRaw(topic, messages, onWritten);
  }

  async function sendRaw(topic: string, messages: Message[], onWritten?: OnWritten): Promise<void> {
    if (options.writer) {
      await options.writer.write(topic, messages, onWritten);
      return;
    }
    const records = messages;
    await retryUntilDone(() => producer.send({ topic, messages }), {
      what: `writing ${records.length} record(s) to ${topic}`,
      backoff,
      retriable: isRetriableKafkaError,
      signal: options.signal,
      onRetry: (err, attempt, waitMs) => {
        stats.sendRetries++;
        const reason = `writing to ${topic} failed: ${err instanceof Error ? err.message : String(err)}`;
        health?.problem('producer', reason);
        log.warn({ err, topic, records: records.length, attempt, waitMs }, `${reason}; retrying in ${waitMs} ms`);
      },
    });
    health?.ok('producer');
    stats.produced[topic] = (stats.produced[topic] ?? 0) + records.length;
    onWritten?.();
  }

  async function divert(
    topic: string,
    raw: RawRecord,
    code: DeadLetterCode,
    reason: string,
    sessionId?: string | null,
    onWritten?: OnWritten,
  ): Promise<DeadLetter> {
    const letter = buildDeadLetter(raw, code, reason, { maxValueBytes, sessionId, at: now() });
    await send(topic, 'deadLetter', [letter], onWritten);
    stats.deadLettered[code] = (stats.deadLettered[code] ?? 0) + 1;
    log.debug({ topic: raw.topic, partition: raw.partition, offset: raw.offset, code, reason: letter.reason }, 'record diverted');
    return letter;
  }

  return {
    send,
    sendRaw,
    sendScores: (scores, onWritten) => send(topics.scores, 'score', scores, onWritten),
    deadLetter: (raw, code, reason, sessionId, onWritten) => divert(topics.deadLetter, raw, code, reason, sessionId, onWritten),
    late: (raw, reason, sessionId, onWritten) => divert(topics.late, raw, 'LATE', reason, sessionId, onWritten),
    stats,
  };
}
