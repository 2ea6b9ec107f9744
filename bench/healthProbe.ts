/**
 * The load bench's health probe, in a process of its own: it polls the pipeline's `/healthz` and
 * `/metrics` (Prometheus text) every INTERVAL_MS, one request at a time, as a Kubernetes probe or
 * a Prometheus scrape would, and times each answer. The load generator's event loop is busy
 * sending thousands of records a second, so a probe inside it would time its own delays too.
 * From each scrape it also reads the pipeline's own event-loop delay over the last interval
 * (prom-client's `nodejs_eventloop_lag_max_seconds`, reset at every scrape).
 *
 *   node --import tsx bench/healthProbe.ts BASE_URL [INTERVAL_MS]
 *
 * On SIGTERM or SIGINT it prints one JSON line, `{"healthz_ms":[...],"metrics_ms":[...],
 * "loop_max_ms":[...],"failed":N}`, and exits.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const [base, intervalArg] = process.argv.slice(2);
if (!base || !/^https?:\/\//.test(base)) {
  console.error(`usage: healthProbe.ts BASE_URL [INTERVAL_MS]; got base ${JSON.stringify(base)}`);
  process.exit(2);
}
const interval = intervalArg === undefined ? 250 : Number(intervalArg);
if (!Number.isInteger(interval) || interval < 10) {
  console.error(`INTERVAL_MS must be an integer >= 10, got ${JSON.stringify(intervalArg)}`);
  process.exit(2);
}

const healthzMs: number[] = [];
const metricsMs: number[] = [];
const loopMaxMs: number[] = [];
let failed = 0;
let running = true;

const LOOP_MAX = /^msa_nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? ([0-9.eE+-]+)$/m;

async function timed(url: string): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { ms: performance.now() - t0, text };
}

function finish(): void {
  running = false;
  process.stdout.write(`${JSON.stringify({ healthz_ms: healthzMs, metrics_ms: metricsMs, loop_max_ms: loopMaxMs, failed })}\n`, () => process.exit(0));
}
process.on('SIGTERM', finish);
process.on('SIGINT', finish);

while (running) {
  const started = performance.now();
  try {
    healthzMs.push((await timed(`${base}/healthz`)).ms);
    const m = await timed(`${base}/metrics`);
    metricsMs.push(m.ms);
    const lag = LOOP_MAX.exec(m.text);
    if (lag) loopMaxMs.push(Number(lag[1]) * 1000);
  } catch {
    failed++;
  }
  await sleep(Math.max(0, interval - (performance.now() - started)));
}
