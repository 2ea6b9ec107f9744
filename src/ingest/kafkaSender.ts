/**
 * A producer of input records (audio, video, transcript) to the input topics, Avro-encoded,
 * keyed by session: what `msa replay` and the sample session use.
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { createCodec } from '../schemas/codec.js';
import { createIdempotentProducer, createKafka, createKafkaSink, ensureTopics, topicNames } from '../transport/kafka/index.js';
import type { RecordSender } from './replay.js';

export interface OpenSender extends RecordSender {
  topics: { audio: string; video: string; transcript: string };
  close(): Promise<void>;
}

export async function openRecordSender(opts: { config: Config; brokers: string[]; logger: Logger }): Promise<OpenSender> {
  const { config } = opts;
  const names = topicNames({ prefix: config.kafka.topicPrefix });
  const kafka = createKafka({ brokers: opts.brokers, clientId: `${config.kafka.clientId}-replay`, ssl: config.kafka.ssl, sasl: config.kafka.sasl, logger: opts.logger });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, names, config.kafka.partitions);
  } finally {
    await admin.disconnect();
  }
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const sink = createKafkaSink({ producer, topics: names, codec: createCodec({ maxRecordBytes: config.limits.maxRecordBytes }), logger: opts.logger });
  return {
    topics: { audio: names.audio, video: names.video, transcript: names.transcript },
    send: (kind, values) => sink.send(names[kind], kind, values as never),
    close: () => producer.disconnect(),
  };
}
