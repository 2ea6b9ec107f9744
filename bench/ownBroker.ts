/**
 * What the benchmarks that start the project's own broker share: its options on their own ports
 * and data folder (so a run never touches the broker of `npm start` or of the tests), a reader of
 * its output topics, and medians.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { brokerOptionsFromConfig, startBroker, stopBroker, type StartedBroker } from '../src/broker/index.js';
import { cacheDirOf, type Config } from '../src/config/config.js';
import { silentLogger } from '../src/log.js';
import { createCodec } from '../src/schemas/codec.js';

/** Broker options for a bench's own broker on `port` / `controllerPort`, data in `<cacheDir>/<dataDirName>`, and its address. */
export function ownBroker(base: Config, port: number, controllerPort: number, dataDirName: string) {
  const cacheDir = cacheDirOf(base);
  const options = {
    ...brokerOptionsFromConfig({ ...base, kafka: { ...base.kafka, brokers: null } }),
    cacheDir,
    dataDir: join(cacheDir, dataDirName),
    port,
    controllerPort,
  };
  delete (options as { brokers?: unknown }).brokers;
  return { options, brokers: [`127.0.0.1:${port}`], cacheDir };
}

/** Starts a bench's own broker empty: one left running by a killed run is stopped, and old topics are deleted. */
export async function startFreshBroker(options: ReturnType<typeof ownBroker>['options']): Promise<StartedBroker> {
  await stopBroker(options, silentLogger);
  return startBroker(options, silentLogger, { fresh: true });
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Reads an output topic (read_committed, kafkajs's default) from the start in a group of its own,
 * handing each record it can decode as `kind` to `onValue` with its partition; `close` stops it.
 */
export async function readOutputTopic<T>(
  kafka: Kafka,
  topic: string,
  kind: 'score' | 'deadLetter',
  onValue: (value: T, partition: number) => void,
): Promise<{ close: () => Promise<void> }> {
  const codec = createCodec();
  const consumer = kafka.consumer({ groupId: `bench-reader-${topic}-${randomUUID().slice(0, 8)}`, readUncommitted: false, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      const d = codec.decode(message.value, kind);
      if (d.ok) onValue(d.value as T, partition);
    },
  });
  return { close: () => consumer.disconnect() };
}
