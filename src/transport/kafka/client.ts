/**
 * The kafkajs client, built from our config shape, logging through pino.
 * TLS is off and SASL absent unless asked for; with SASL, TLS should be on (a warning says so).
 */
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import { silentLogger, type Logger } from '../../log.js';

export interface KafkaConnectionOptions {
  brokers: string[];
  clientId?: string;
  /** TLS to the brokers (system CAs). */
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | null;
  /** Milliseconds to wait for a connection; default 3000. */
  connectionTimeoutMs?: number;
  /**
   * kafkajs's own retries of each request (`retries` tries, waits from `initialMs` growing to
   * `maxMs`). What it gives up on our code retries for as long as it takes (retry.ts).
   */
  retry?: { retries: number; initialMs: number; maxMs: number };
  logger?: Logger;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * States kafkajs logs at error level that are expected and retried by itself, e.g. while a
 * just-started broker loads its group coordinator ("The coordinator is loading", "The group
 * coordinator is not available"), before the leaders of just-created topics are known ("This
 * server is not the leader for that topic-partition"), or while a group rebalances: logged at
 * debug, not shown to people. Failures kafkajs gives up on reach our code as errors.
 */
const TRANSIENT =
  /coordinator is (loading|not available)|group coordinator is not available|not coordinator|rebalanc|leadership election|leader not available|there is no leader|not the leader for that topic-partition|does not host this topic-partition|offset.*not available/i;

function isExpectedTransient(entry: LogEntry): boolean {
  if (entry.level !== logLevel.ERROR && entry.level !== logLevel.WARN) return false;
  const { message, error } = entry.log as { message?: string; error?: string };
  return TRANSIENT.test(`${message ?? ''} ${error ?? ''}`);
}

/** The first error of a cause chain (kafkajs wraps the one that failed in retry errors). */
function rootCause(err: unknown): unknown {
  let e = err;
  for (let i = 0; i < 10 && e instanceof Error && e.cause !== undefined && e.cause !== e; i++) e = e.cause;
  return e;
}

const RETRIABLE_NAMES = new Set([
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSLockTimeout',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSTimeout',
]);

/**
 * Whether retrying may fix what Kafka failed: the broker is unreachable, restarting, electing
 * leaders or loading its coordinator. Not: a record too large, an authorisation or a
 * configuration error. kafkajs marks its protocol errors `retriable`; its retry wrappers keep the
 * original as `cause`.
 */
export function isRetriableKafkaError(err: unknown): boolean {
  for (const e of [err, rootCause(err)]) {
    if (!(e instanceof Error)) continue;
    if ((e as { retriable?: unknown }).retriable === true) return true;
    if (RETRIABLE_NAMES.has(e.name)) return true;
    if (/ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|socket hang up|Connection (closed|timeout|error)/i.test(e.message)) return true;
  }
  return false;
}

export function createKafka(options: KafkaConnectionOptions): Kafka {
  const logger = (options.logger ?? silentLogger).child({ component: 'kafkajs' });
  if (options.brokers.length === 0) throw new Error('kafka brokers must list at least one host:port, got []');
  if (options.sasl && !options.ssl) logger.warn('SASL without TLS sends credentials in clear text; set kafka.ssl = true');
  const config: KafkaConfig = {
    clientId: options.clientId ?? 'msa',
    brokers: options.brokers,
    ssl: options.ssl ?? false,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    ...(options.retry ? { retry: { retries: options.retry.retries, initialRetryTime: options.retry.initialMs, maxRetryTime: options.retry.maxMs } } : {}),
    logLevel: logLevel.INFO,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      const level = isExpectedTransient(entry) ? 'debug' : (LEVELS[entry.level] ?? 'info');
      logger[level]({ ns: entry.namespace, ...extra }, message);
    },
  };
  if (options.sasl) config.sasl = { ...options.sasl } as SASLOptions;
  return new Kafka(config);
}
