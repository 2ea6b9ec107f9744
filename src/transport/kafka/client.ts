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
  logger?: Logger;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(options: KafkaConnectionOptions): Kafka {
  const logger = (options.logger ?? silentLogger).child({ component: 'kafkajs' });
  if (options.brokers.length === 0) throw new Error('kafka brokers must list at least one host:port, got []');
  if (options.sasl && !options.ssl) logger.warn('SASL without TLS sends credentials in clear text; set kafka.ssl = true');
  const config: KafkaConfig = {
    clientId: options.clientId ?? 'msa',
    brokers: options.brokers,
    ssl: options.ssl ?? false,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    logLevel: logLevel.INFO,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      logger[LEVELS[entry.level] ?? 'info']({ ns: entry.namespace, ...extra }, message);
    },
  };
  if (options.sasl) config.sasl = { ...options.sasl } as SASLOptions;
  return new Kafka(config);
}
