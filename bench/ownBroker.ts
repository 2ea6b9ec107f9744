/**
 * What the benchmarks that start the project's own broker share: its options on their own ports
 * and data folder (so a run never touches the broker of `npm start` or of the tests), and medians.
 */
import { join } from 'node:path';
import { brokerOptionsFromConfig } from '../src/broker/index.js';
import { cacheDirOf, type Config } from '../src/config/config.js';

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

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
