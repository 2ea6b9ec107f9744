/**
 * Whether a Kafka cluster answers: a real metadata request that must list at least one (unfenced)
 * broker, so "ready" means a client can create topics and produce, not just that a port is open.
 */
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';

/** How the probe reaches a SASL_SSL listener: the CA's PEM text and a SCRAM user. */
export interface ProbeAuth {
  ca: string;
  sasl: { mechanism: 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

/** One metadata round trip; true if the cluster lists a broker within timeoutMs. */
export async function kafkaAnswers(brokers: string[], timeoutMs = 2000, auth?: ProbeAuth): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'msa-broker-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    ...(auth ? { ssl: { ca: [auth.ca] }, sasl: auth.sasl as SASLOptions } : {}),
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
