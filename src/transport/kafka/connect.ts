/**
 * Connecting to Kafka: the one place that builds the kafkajs client, admin, producer and consumer
 * from the config. It hands the pipeline a source (input records, with backpressure), a sink
 * (scores, dead letters, late records), a committer and the commit tracker they share; and the
 * feeders (`msa replay`, `msa ingest`, the sample session) a record producer.
 *
 * @example
 * const bus = await connectPipelineTransport({ brokers, kafka: config.kafka, limits: config.limits, logger });
 * bus.source.records$.subscribe(...); bus.committer.start();
 * // ... on stop: bus.source.stop(); await bus.committer.stop(); await bus.close();
 */
import { DEFAULTS, type Config } from '../../config/config.js';
import { silentLogger, type Logger } from '../../log.js';
import type { Codec } from '../../schemas/codec.js';
import { codecFor, type RegistryCodec } from '../schemaRegistry/codec.js';
import { CommitTracker } from '../commitTracker.js';
import { commonPartitionCount } from '../coPartition.js';
import { inputTopics, topicNames, type TopicNames } from '../topics.js';
import { createKafka, explainKafkaAuthError, isKafkaAuthError, isRetriableKafkaError } from './client.js';
import { createTransportHealth, type TransportHealth } from '../health.js';
import { retryUntilDone } from '../retry.js';
import { createCommitter, type Committer } from './committer.js';
import { createInputConsumer } from './consumer.js';
import { createIdempotentProducer, createKafkaSink, type KafkaSink } from './sink.js';
import { startLagMonitor } from './groupLag.js';
import { createKafkaSource, type KafkaSource } from './source.js';
import { createLagProbe, type LagProbe } from './lag.js';
import { createTransportStats, type TransportStats } from './stats.js';
import { ensureTopics } from './topics.js';
import { changelogTopicName, ensureChangelogTopic, readChangelog, type ChangelogEntry } from './changelog.js';
import { createTransactionalOutput, transactionalProducerOptions } from './transactional.js';
import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { TopicPartition } from '../types.js';

export interface TransportOptions {
  brokers: string[];
  kafka: Config['kafka'];
  limits: Config['limits'];
  /** Schema Registry (`schemaRegistry.url`); absent or url null = the hand-mapped ids of schemas/registry.json. */
  schemaRegistry?: Config['schemaRegistry'];
  logger?: Logger;
  /** Where the parts report broker trouble; default a new one (see `health` of the result). */
  health?: TransportHealth;
  /** Ends every retry loop (connecting, sending): the caller stops. */
  signal?: AbortSignal;
}

export interface PipelineTransportOptions extends TransportOptions {
  /** Awaited before the first record of a newly assigned input partition is read (restore its sessions' state). */
  beforeAssigned?: (partition: TopicPartition) => Promise<void>;
}

/** What one pipeline instance reads from and writes to, connected. */
export interface PipelineTransport {
  readonly topics: TopicNames;
  /** Encodes and decodes with the hand-mapped ids, or with the Schema Registry's. */
  readonly codec: Codec;
  /** With a Schema Registry: reads an id the codec does not know from it (null offline); see schemaRegistry/codec.ts. */
  readonly resolveWriter: RegistryCodec['resolveWriter'];
  /** Input records; release each one when it was windowed or diverted. */
  readonly source: KafkaSource;
  /** Scores, dead letters and late records. */
  readonly sink: KafkaSink;
  /** Which offsets may be committed: records join windows, windows get scored. */
  readonly tracker: CommitTracker;
  readonly committer: Committer;
  /** Measures consumer lag into `stats.lag` every `kafka.lagIntervalMs` once started. */
  readonly lag: LagProbe;
  readonly stats: TransportStats;
  /** Whether the broker is reached: open problems while it is away (degraded). */
  readonly health: TransportHealth;
  /** Stops retrying (sends still failing then reject): first thing on stop. */
  stopRetrying(): void;
  /** Leaves the group and disconnects: after `source.stop()` and `committer.stop()`. */
  close(): Promise<void>;
  /** How outputs and offsets reach Kafka (`kafka.delivery`). */
  readonly delivery: 'exactly-once' | 'at-least-once';
  /** The compacted per-session state topic, and reading partitions of it back (changelog.ts). */
  readonly changelog: { topic: string; read(partitions: readonly number[]): Promise<ChangelogEntry[]> };
}

/** A producer of records to the input (or any) topics, Avro-encoded, keyed by session. */
export interface RecordProducer {
  readonly topics: TopicNames;
  readonly codec: Codec;
  readonly sink: KafkaSink;
  readonly health: TransportHealth;
  close(): Promise<void>;
}

/** Creates the topics (if missing) with the configured partition count; returns those created. */
async function createTopics(kafka: ReturnType<typeof createKafka>, topics: TopicNames, partitions: number): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await ensureTopics(admin, topics, partitions);
  } finally {
    await admin.disconnect();
  }
}

/** Refuses input topics with different partition counts (PartitionCountMismatchError names them). */
async function checkCoPartitioned(kafka: ReturnType<typeof createKafka>, topics: string[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics: meta } = await admin.fetchTopicMetadata({ topics });
    return commonPartitionCount(Object.fromEntries(meta.map((t) => [t.name, t.partitions.length])));
  } finally {
    await admin.disconnect();
  }
}

const clientOf = (o: TransportOptions, suffix = '') =>
  createKafka({ brokers: o.brokers, clientId: `${o.kafka.clientId}${suffix}`, ssl: o.kafka.ssl, sasl: o.kafka.sasl, retry: o.kafka.retry, logger: o.logger });

/** The codec: hand-mapped ids offline, or the ids the Schema Registry gave (schemaRegistry/codec.ts). */
const registryCodec = (o: TransportOptions, topics: TopicNames, signal?: AbortSignal): Promise<RegistryCodec> =>
  codecFor({ registry: o.schemaRegistry ?? DEFAULTS.schemaRegistry, topics, limits: o.limits, logger: o.logger, backoff: o.kafka.retry, signal });

/** Runs a connect step until the broker answers (it may be away at start too), reporting it as 'connect'. */
function untilConnected<T>(what: string, step: () => Promise<T>, o: TransportOptions, health: TransportHealth, log: Logger): Promise<T> {
  return retryUntilDone(step, {
    what,
    backoff: o.kafka.retry,
    retriable: isRetriableKafkaError,
    signal: o.signal,
    onRetry: (err, attempt, waitMs) => {
      const reason = `${what} failed: ${err instanceof Error ? err.message : String(err)}`;
      health.problem('connect', reason);
      log.warn({ err, attempt, waitMs, brokers: o.brokers }, `${reason}; retrying in ${waitMs} ms`);
    },
  }).then(
    (r) => {
      health.ok('connect');
      return r;
    },
    (err: unknown) => {
      // A refused login or an untrusted certificate is not retried: it would fail the same way forever.
      throw isKafkaAuthError(err) ? explainKafkaAuthError(err, { brokers: o.brokers, ssl: o.kafka.ssl, sasl: o.kafka.sasl }) : err;
    },
  );
}

/** Connects a pipeline instance: topics created, producer and consumer (in `kafka.groupId`) connected. */
export async function connectPipelineTransport(options: PipelineTransportOptions): Promise<PipelineTransport> {
  const logger = options.logger ?? silentLogger;
  const log = logger.child({ component: 'transport' });
  const kafka = clientOf(options);
  const health = options.health ?? createTransportHealth();
  const retrying = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, retrying.signal]) : retrying.signal;
  const topics = topicNames({ prefix: options.kafka.topicPrefix });
  const created = await untilConnected('creating the topics', () => createTopics(kafka, topics, options.kafka.partitions), options, health, log);
  if (created.length > 0) log.info({ created }, 'topics created');

  // Before any client is connected, so a refused start leaves nothing open behind it.
  const partitionCount = await untilConnected(
    'checking the input partitions',
    () =>
      checkCoPartitioned(
        kafka,
        inputTopics(topics).map((t) => t.topic),
      ),
    options,
    health,
    log,
  );
  // With a Schema Registry, the schemas are registered (and checked) before anything is written.
  const { codec, resolveWriter } = await registryCodec(options, topics, signal);
  // The changelog has as many partitions as the inputs: a session's state lives on its input partition number.
  const changelogTopic = changelogTopicName(options.kafka.topicPrefix);
  await untilConnected('creating the changelog topic', () => ensureChangelogTopic(kafka, changelogTopic, partitionCount), options, health, log);
  const exactlyOnce = options.kafka.delivery === 'exactly-once';
  const transactionalId = options.kafka.transactionalId ?? `${options.kafka.groupId}-${randomUUID()}`;
  const makeTransactional = () =>
    kafka.producer({
      ...transactionalProducerOptions(transactionalId, options.kafka.transactionTimeoutMs),
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  const producer = exactlyOnce ? makeTransactional() : createIdempotentProducer(kafka);
  await untilConnected('connecting the producer', () => producer.connect(), options, health, log);
  const consumer = createInputConsumer(kafka, {
    groupId: options.kafka.groupId,
    sessionTimeoutMs: options.kafka.sessionTimeoutMs,
    heartbeatIntervalMs: options.kafka.heartbeatIntervalMs,
  });
  try {
    await untilConnected('connecting the consumer', () => consumer.connect(), options, health, log);
  } catch (err) {
    await producer.disconnect();
    throw err;
  }
  const stats = createTransportStats();
  const tracker = new CommitTracker();
  // Connected below; the lag probes and the exactly-once output's check of a commit in doubt use it.
  const admin = kafka.admin();
  const output = exactlyOnce
    ? createTransactionalOutput({
        producer,
        createProducer: makeTransactional,
        groupId: options.kafka.groupId,
        committedMetadata: async ({ topic, partition }) => {
          const [t] = await admin.fetchOffsets({ groupId: options.kafka.groupId, topics: [topic] });
          return t?.partitions.find((p) => p.partition === partition)?.metadata ?? null;
        },
        tracker,
        intervalMs: options.kafka.transactionIntervalMs,
        stats,
        logger,
        health,
        backoff: options.kafka.retry,
        signal,
      })
    : null;
  const sink = createKafkaSink({ producer, topics, codec, stats, logger, backoff: options.kafka.retry, health, signal, writer: output ?? undefined });
  const source = createKafkaSource({
    consumer,
    topics: inputTopics(topics).map((t) => t.topic),
    fromBeginning: true,
    maxRecords: options.limits.maxBufferedRecords,
    maxBytes: options.limits.maxBufferedBytes,
    tracker,
    stats,
    logger,
    health,
    restartBackoff: options.kafka.retry,
    beforeAssigned: options.beforeAssigned,
  });
  const committer = output ?? createCommitter({ consumer, tracker, intervalMs: options.kafka.commitIntervalMs, stats, logger, health });
  if (exactlyOnce) log.info({ transactionalId }, 'exactly-once delivery: outputs and offsets in Kafka transactions');
  try {
    await admin.connect();
  } catch (err) {
    await consumer.disconnect();
    await producer.disconnect();
    throw err;
  }
  const lag = createLagProbe({ admin, groupId: options.kafka.groupId, source, stats, intervalMs: options.kafka.lagIntervalMs, logger });
  // The whole group's lag per partition (for /metrics and an autoscaler), on the same admin connection.
  const groupLag = startLagMonitor({
    admin,
    groupId: options.kafka.groupId,
    topics: inputTopics(topics).map((t) => t.topic),
    intervalMs: options.kafka.lagIntervalMs,
    stats,
    logger,
  });
  return {
    topics,
    codec,
    resolveWriter,
    source,
    sink,
    tracker,
    committer,
    lag,
    stats,
    health,
    delivery: options.kafka.delivery,
    changelog: { topic: changelogTopic, read: (partitions) => readChangelog(kafka, changelogTopic, partitions, logger) },
    stopRetrying: () => retrying.abort(),
    close: async () => {
      retrying.abort();
      await groupLag.stop();
      await lag.stop();
      await consumer.disconnect();
      // Exactly-once: the producer in use may be a newer one than `producer` (made after a failure).
      await (output ? output.close() : producer.disconnect());
    },
  };
}

/** Connects a record producer (topics created if missing); `clientSuffix` names it in the broker's logs. */
export async function connectRecordProducer(options: TransportOptions & { clientSuffix?: string }): Promise<RecordProducer> {
  const log = (options.logger ?? silentLogger).child({ component: 'transport' });
  const kafka = clientOf(options, options.clientSuffix ?? '-producer');
  const health = options.health ?? createTransportHealth();
  const topics = topicNames({ prefix: options.kafka.topicPrefix });
  await untilConnected('creating the topics', () => createTopics(kafka, topics, options.kafka.partitions), options, health, log);
  const { codec } = await registryCodec(options, topics, options.signal);
  const producer = createIdempotentProducer(kafka);
  await untilConnected('connecting the producer', () => producer.connect(), options, health, log);
  const sink = createKafkaSink({ producer, topics, codec, logger: options.logger, backoff: options.kafka.retry, health, signal: options.signal });
  return { topics, codec, sink, health, close: () => producer.disconnect() };
}
