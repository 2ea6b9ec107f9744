/**
 * The kafkajs client, built from our config shape, logging through pino.
 * TLS is off and SASL absent unless asked for; with SASL, TLS should be on (a warning says so).
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import { silentLogger, type Logger } from '../../log.js';

/** `kafka.ssl`: off, on with the system CAs, or on trusting the CA of a PEM file (e.g. the local broker's tls/ca.pem). */
export type KafkaSsl = boolean | { ca: string | null; rejectUnauthorized: boolean };
export type KafkaSasl = { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };

export interface KafkaConnectionOptions {
  brokers: string[];
  clientId?: string;
  /** TLS to the brokers: true = system CAs; `{ ca }` = trust that PEM file's CA. */
  ssl?: KafkaSsl;
  sasl?: KafkaSasl | null;
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
  if (isKafkaAuthError(err)) return false;
  for (const e of [err, rootCause(err)]) {
    if (!(e instanceof Error)) continue;
    if ((e as { retriable?: unknown }).retriable === true) return true;
    if (RETRIABLE_NAMES.has(e.name)) return true;
    if (/ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|socket hang up|Connection (closed|timeout|error)/i.test(e.message)) return true;
  }
  return false;
}

/** kafkajs's `ssl` from ours: the CA file is read here, and a missing one is named. */
export function tlsOptions(ssl: KafkaSsl | undefined): boolean | ConnectionOptions {
  if (ssl === undefined || typeof ssl === 'boolean') return ssl ?? false;
  let ca: string | undefined;
  if (ssl.ca !== null) {
    try {
      ca = readFileSync(ssl.ca, 'utf8');
    } catch (e) {
      throw new Error(`kafka.ssl.ca: cannot read the CA file ${ssl.ca}: ${(e as Error).message}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`kafka.ssl.ca: ${ssl.ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return { ...(ca ? { ca: [ca] } : {}), rejectUnauthorized: ssl.rejectUnauthorized };
}

/** Node's TLS errors that no retry fixes: the broker's certificate is not trusted or not for this host. */
const TLS_TRUST =
  /self[- ]signed certificate|unable to (get|verify) (local )?issuer certificate|unable to verify the first certificate|certificate has expired|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID|certificate verify failed/i;

/** The errors of a cause chain, outermost first. */
function chain(err: unknown): Error[] {
  const out: Error[] = [];
  for (let e = err; e instanceof Error && out.length < 10 && !out.includes(e); e = e.cause) out.push(e);
  return out;
}

/** Whether Kafka refused the login (SASL) or the TLS handshake failed on trust: retrying will not help. */
export function isKafkaAuthError(err: unknown): boolean {
  return chain(err).some(
    (e) => e.name === 'KafkaJSSASLAuthenticationError' || TLS_TRUST.test(e.message) || TLS_TRUST.test(String((e as { code?: unknown }).code ?? '')),
  );
}

/**
 * The error to show for a refused login or an untrusted certificate: names the brokers, the
 * mechanism and user (never the password) or the CA setting, and what to check.
 */
export function explainKafkaAuthError(err: unknown, o: Pick<KafkaConnectionOptions, 'brokers' | 'ssl' | 'sasl'>): Error {
  const detail = chain(err)
    .map((e) => e.message)
    .filter((m, i, all) => all.indexOf(m) === i)
    .join(': ');
  const at = o.brokers.join(',');
  if (chain(err).some((e) => e.name === 'KafkaJSSASLAuthenticationError')) {
    const who = o.sasl ? `SASL ${o.sasl.mechanism.toUpperCase()} as user ${JSON.stringify(o.sasl.username)}` : 'SASL (kafka.sasl not set)';
    return new Error(`Kafka at ${at} refused the login: ${who} failed (${detail}); check kafka.sasl.mechanism, username and password`, { cause: err });
  }
  const ca = typeof o.ssl === 'object' && o.ssl.ca ? `the CA in ${o.ssl.ca}` : 'the system CAs';
  return new Error(`TLS to Kafka at ${at} failed: the broker's certificate is not trusted by ${ca} (${detail}); set kafka.ssl.ca to the CA that signed it`, {
    cause: err,
  });
}

export function createKafka(options: KafkaConnectionOptions): Kafka {
  const logger = (options.logger ?? silentLogger).child({ component: 'kafkajs' });
  if (options.brokers.length === 0) throw new Error('kafka brokers must list at least one host:port, got []');
  if (options.sasl && !options.ssl) logger.warn('SASL without TLS sends credentials in clear text; set kafka.ssl = true');
  const config: KafkaConfig = {
    clientId: options.clientId ?? 'msa',
    brokers: options.brokers,
    ssl: tlsOptions(options.ssl),
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
