/**
 * A producer of input records (audio, video, transcript) to the input topics, Avro-encoded,
 * keyed by session: what `msa replay`, `msa ingest` and the sample session use.
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { connectRecordProducer } from '../transport/kafka/index.js';
import type { RecordSender } from './replay.js';

export interface OpenSender extends RecordSender {
  topics: { audio: string; video: string; transcript: string };
  close(): Promise<void>;
}

export async function openRecordSender(opts: { config: Config; brokers: string[]; logger: Logger }): Promise<OpenSender> {
  const { config } = opts;
  const producer = await connectRecordProducer({
    brokers: opts.brokers,
    kafka: config.kafka,
    limits: config.limits,
    schemaRegistry: config.schemaRegistry,
    logger: opts.logger,
    clientSuffix: '-replay',
  });
  const names = producer.topics;
  return {
    topics: { audio: names.audio, video: names.video, transcript: names.transcript },
    send: (kind, values) => producer.sink.send(names[kind], kind, values as never),
    close: () => producer.close(),
  };
}
