/**
 * Options of the project's own local Kafka broker: one typed object, filled with defaults here and
 * passed in, built from the validated config (`brokerOptionsFromConfig`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.js';
import { checkSecurity, DEFAULT_SECURITY, type BrokerSecurity } from './security.js';

export interface BrokerOptions {
  /** Root of the project's caches (jars under `kafka/<version>/lib`). Default `~/.cache/msa`. */
  cacheDir: string;
  /** KRaft storage, server.properties, pid file and broker logs. Default `<cacheDir>/kafka-data`. */
  dataDir: string;
  /** Client (PLAINTEXT) port on 127.0.0.1. */
  port: number;
  /** KRaft controller port on 127.0.0.1; fixed once the data dir is formatted. */
  controllerPort: number;
  /** Kafka version (`org.apache.kafka:kafka_2.13`); default: `kafka.version` of deploy/kafka/pom.xml. */
  version: string;
  /** Folder with pom.xml, server.properties and log4j2.xml. */
  deployDir: string;
  javaBin: string;
  mvnBin: string;
  /** JVM heap of the broker (-Xmx), MiB. */
  heapMb: number;
  /** How long a start may take before it fails (resolve excluded). */
  startTimeoutMs: number;
  /** How long a stop waits after SIGTERM before SIGKILL. */
  stopTimeoutMs: number;
  /** `plaintext` (default) or `sasl_ssl` with generated TLS files and SCRAM users (security.ts). */
  security: BrokerSecurity;
}

/** What the config can say; `brokers` (kafka.brokers, KAFKA_BROKERS) means: use that cluster, start nothing. */
export type BrokerEnvOptions = Partial<BrokerOptions> & { brokers?: string[] };

export const BROKER_HOST = '127.0.0.1';
export const DEFAULT_PORT = 9092;
export const DEFAULT_CONTROLLER_PORT = 9093;

/** deploy/kafka of this package, found by walking up from this module (works from src/ and dist/). */
export function findDeployDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'deploy', 'kafka');
    if (existsSync(join(candidate, 'pom.xml'))) return candidate;
    if (dirname(dir) === dir) {
      throw new Error(`cannot find deploy/kafka/pom.xml in ${from} or any folder above it; pass deployDir`);
    }
  }
}

/** The `kafka.version` property of deploy/kafka/pom.xml: the one place the default version is written. */
export function defaultKafkaVersion(deployDir: string): string {
  const pom = readFileSync(join(deployDir, 'pom.xml'), 'utf8');
  const m = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(pom);
  if (!m?.[1]) throw new Error(`${join(deployDir, 'pom.xml')} has no <kafka.version> property`);
  return m[1];
}

function checkPort(name: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name} must be an integer port in 1..65535, got ${JSON.stringify(port)}`);
  }
  return port;
}

/** Fill in defaults; later-given fields win. Throws on a bad port or equal ports. */
export function resolveBrokerOptions(given: Partial<BrokerOptions> = {}): BrokerOptions {
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<BrokerOptions>;
  const cacheDir = resolve(defined.cacheDir ?? join(homedir(), '.cache', 'msa'));
  const deployDir = resolve(defined.deployDir ?? findDeployDir());
  const opts: BrokerOptions = {
    cacheDir,
    dataDir: resolve(defined.dataDir ?? join(cacheDir, 'kafka-data')),
    port: checkPort('port', defined.port ?? DEFAULT_PORT),
    controllerPort: checkPort('controllerPort', defined.controllerPort ?? DEFAULT_CONTROLLER_PORT),
    version: defined.version ?? defaultKafkaVersion(deployDir),
    deployDir,
    javaBin: defined.javaBin ?? 'java',
    mvnBin: defined.mvnBin ?? 'mvn',
    heapMb: defined.heapMb ?? 512,
    startTimeoutMs: defined.startTimeoutMs ?? 90_000,
    stopTimeoutMs: defined.stopTimeoutMs ?? 30_000,
    security: checkSecurity({ ...DEFAULT_SECURITY, ...defined.security }),
  };
  if (opts.port === opts.controllerPort) {
    throw new Error(`port and controllerPort must differ, both are ${opts.port}`);
  }
  return opts;
}

/**
 * The local broker's options from the validated config (`cacheDir`, `broker.*`; env MSA_CACHE_DIR,
 * MSA_KAFKA_DATA_DIR, MSA_KAFKA_PORT, MSA_KAFKA_CONTROLLER_PORT, MSA_KAFKA_VERSION, JAVA_HOME), and
 * `brokers` when the config names a cluster (`kafka.brokers`, env KAFKA_BROKERS): then nothing is started.
 */
export function brokerOptionsFromConfig(config: Pick<Config, 'cacheDir' | 'broker' | 'kafka'>): BrokerEnvOptions {
  const b = config.broker;
  const out: BrokerEnvOptions = {
    cacheDir: config.cacheDir ?? undefined,
    dataDir: b.dataDir ?? undefined,
    port: b.port,
    controllerPort: b.controllerPort,
    version: b.version ?? undefined,
    heapMb: b.heapMb,
    javaBin: b.javaHome ? join(b.javaHome, 'bin', 'java') : undefined,
    security: b.security,
    brokers: config.kafka.brokers && config.kafka.brokers.length > 0 ? config.kafka.brokers : undefined,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as BrokerEnvOptions;
}
