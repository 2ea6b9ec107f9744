/**
 * Waiting for a Kafka cluster to answer (a real metadata request, `transport/kafka/probe.ts`), and
 * whether a local port is free.
 */
import { createServer } from 'node:net';
import { kafkaAnswers, type ProbeAuth } from '../transport/kafka/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  /** For a SASL_SSL listener. */
  auth?: ProbeAuth;
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
    if (await kafkaAnswers(opts.brokers, Math.min(2000, Math.max(250, deadline - Date.now())), opts.auth)) return;
    if (Date.now() >= deadline) {
      throw new Error(`Kafka at ${opts.brokers.join(',')} did not answer a metadata request within ${opts.timeoutMs} ms`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}
