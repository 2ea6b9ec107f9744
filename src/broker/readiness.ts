/**
 * Whether a Kafka cluster answers: a real metadata request through kafkajs that must list at least
 * one (unfenced) broker, so "ready" means a client can create topics and produce, not just that a
 * port is open.
 */
import { createServer } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** Whether nothing listens on host:port (we could bind it). */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolveFree(true)));
  });
}

export interface WaitOptions {
  brokers: string[];
  timeoutMs: number;
  /** Checked between probes; returning a reason stops the wait early (e.g. the JVM exited). */
  failed?: () => string | null;
  intervalMs?: number;
}

/** Probe until the cluster answers; rejects with the reason on timeout or early failure. */
export async function waitUntilReady(opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const reason = opts.failed?.();
    if (reason) throw new Error(reason);
    if (await kafkaAnswers(opts.brokers, Math.min(2000, Math.max(250, deadline - Date.now())))) return;
    if (Date.now() >= deadline) {
      throw new Error(`Kafka at ${opts.brokers.join(',')} did not answer a metadata request within ${opts.timeoutMs} ms`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}
