/**
 * Whether a Kafka cluster answers: a real metadata request that must list at least one (unfenced)
 * broker, so "ready" means a client can create topics and produce, not just that a port is open.
 */
import { Kafka, logLevel } from 'kafkajs';

/** One metadata round trip; true if the cluster lists a broker within timeoutMs. */
export async function kafkaAnswers(brokers: string[], timeoutMs = 2000): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'msa-broker-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
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
