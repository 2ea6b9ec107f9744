/** The Kafka adapter: the only place that imports kafkajs. */
export { createKafka, type KafkaConnectionOptions } from './client.js';
export { connectPipelineTransport, connectRecordProducer, type PipelineTransport, type RecordProducer, type TransportOptions } from './connect.js';
export { createInputConsumer, type InputConsumerOptions } from './consumer.js';
export { createKafkaSource, type KafkaSource, type KafkaSourceOptions } from './source.js';
export { createCommitter, type Committer, type CommitterOptions } from './committer.js';
export {
  buildDeadLetter,
  createIdempotentProducer,
  createKafkaSink,
  DEFAULT_DEAD_LETTER_VALUE_BYTES,
  type DeadLetterOptions,
  type KafkaSink,
  type KafkaSinkOptions,
} from './sink.js';
export { ensureTopics } from './topics.js';
export { kafkaAnswers, type ProbeAuth } from './probe.js';
export { createTransportStats, type TransportStats } from './stats.js';
export { createLagProbe, type LagProbe, type LagProbeOptions } from './lag.js';
