/**
 * bench/load.ts's measuring and reporting: /proc probes of the pipeline and broker processes,
 * quantiles, a run's result, the median summary of repeated runs, the Markdown table row and the
 * latency histogram (Vega-Lite, SVG).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

const CLOCK_TICKS = 100;
export async function cpuSeconds(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
export async function rssMb(pid: number): Promise<number | null> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}
export async function timedGet(url: string): Promise<{ ms: number; body: unknown }> {
  const t0 = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = await res.json().catch(() => null);
  return { ms: performance.now() - t0, body };
}

export const quantile = (sorted: readonly number[], q: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
export const median = (xs: readonly number[]): number | null =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
export const round = (x: number | null, digits = 0): number | null => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits);
/** Quantiles of `xs` (sorted once, a copy), rounded to `digits`. */
export const quantilesOf = (xs: readonly number[], digits = 0) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return (q: number) => round(quantile(sorted, q), digits);
};

export interface RunResult {
  sessions: number;
  windows_expected: number;
  windows_received: number;
  lost: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  pipeline_cpu_pct: number | null;
  broker_cpu_pct: number | null;
  rss_mb: number | null;
  lag_max: number | null;
  extra: number;
  /** Windows a segment overlaps with none of its words: not expected, the pipeline leaves them unscored. */
  wordless: number;
  /** Windows with records but no words, by the bench's count and by the pipeline's (`unscoredWindows`, all reasons). */
  unscored_expected: number;
  unscored_pipeline: number | null;
  duplicates: number;
  /** Scores that arrived before the bench saw their window closable (should be 0). */
  early: number;
  max_ms: number | null;
  /** /healthz and /metrics (Prometheus text) p99, timed by a probe process of its own (bench/healthProbe.ts), as Kubernetes or Prometheus would. */
  healthz_p99_ms: number | null;
  metrics_p99_ms: number | null;
  /** /healthz and /metrics.json p99 timed inside this process, whose event loop is busy generating the load (the only figures before December 7). */
  healthz_inproc_p99_ms: number | null;
  metrics_json_inproc_p99_ms: number | null;
  /** The pipeline's own event-loop delay (prom-client's per-scrape maximum): p99 and maximum over the probe's scrapes. */
  loop_delay_p99_ms: number | null;
  loop_delay_max_ms: number | null;
  /** The scores' own latencyMs (the pipeline's window close to the score going out): the rest of the delay is before the pipeline closed the window. */
  score_latency_p50_ms: number | null;
  score_latency_p99_ms: number | null;
  /** p99 of a send request's time to its acknowledgement, per kind: the generator's and the broker's share of the delay. */
  send_acked_audio_p99_ms: number | null;
  send_acked_transcript_p99_ms: number | null;
  /** The closing record's send (bench clock) to the pipeline's close of the window (pipeline clock, same machine). */
  send_to_close_p50_ms: number | null;
  send_to_close_p99_ms: number | null;
  /** The score's emission to its arrival at the bench's WebSocket client (the Kafka transaction included). */
  emitted_to_ws_p50_ms: number | null;
  emitted_to_ws_p99_ms: number | null;
  exit_code: number | null;
  send_errors: number;
  records_sent: number;
  load_before: number;
  /** The pipeline's face analysis counters at the last sample (features.video of /metrics.json), with --video. */
  video?: { frames: number; analysed: number; shed: number; stale: number; failed: number; analyseMs: number };
  delays: number[];
}

export type Summary = Omit<RunResult, 'delays'> & { runs: number };

/** Medians of repeated runs (lost: the largest; exit code: the first non-null). */
export function summarise(runs: RunResult[]): Summary {
  const med = (k: keyof RunResult) => {
    const xs = runs.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
    return xs.length === 0 ? null : median(xs);
  };
  const maxOf = (k: keyof RunResult) => Math.max(...runs.map((r) => (r[k] as number | null) ?? 0));
  return {
    sessions: runs[0]!.sessions,
    windows_expected: med('windows_expected')!,
    windows_received: med('windows_received')!,
    lost: maxOf('lost'),
    p50_ms: med('p50_ms'),
    p95_ms: med('p95_ms'),
    p99_ms: med('p99_ms'),
    pipeline_cpu_pct: med('pipeline_cpu_pct'),
    broker_cpu_pct: med('broker_cpu_pct'),
    rss_mb: med('rss_mb'),
    lag_max: med('lag_max'),
    extra: maxOf('extra'),
    wordless: maxOf('wordless'),
    unscored_expected: maxOf('unscored_expected'),
    unscored_pipeline: med('unscored_pipeline'),
    duplicates: maxOf('duplicates'),
    early: maxOf('early'),
    max_ms: med('max_ms'),
    healthz_p99_ms: med('healthz_p99_ms'),
    metrics_p99_ms: med('metrics_p99_ms'),
    healthz_inproc_p99_ms: med('healthz_inproc_p99_ms'),
    metrics_json_inproc_p99_ms: med('metrics_json_inproc_p99_ms'),
    loop_delay_p99_ms: med('loop_delay_p99_ms'),
    loop_delay_max_ms: med('loop_delay_max_ms'),
    score_latency_p50_ms: med('score_latency_p50_ms'),
    score_latency_p99_ms: med('score_latency_p99_ms'),
    send_acked_audio_p99_ms: med('send_acked_audio_p99_ms'),
    send_acked_transcript_p99_ms: med('send_acked_transcript_p99_ms'),
    send_to_close_p50_ms: med('send_to_close_p50_ms'),
    send_to_close_p99_ms: med('send_to_close_p99_ms'),
    emitted_to_ws_p50_ms: med('emitted_to_ws_p50_ms'),
    emitted_to_ws_p99_ms: med('emitted_to_ws_p99_ms'),
    exit_code: runs.find((r) => r.exit_code !== null)?.exit_code ?? null,
    send_errors: maxOf('send_errors'),
    records_sent: med('records_sent')!,
    load_before: med('load_before')!,
    runs: runs.length,
  };
}

export function tableRow(s: Summary): string {
  const f = (x: number | null, unit = '') => (x === null ? '-' : `${x}${unit}`);
  return (
    `| ${s.sessions} | ${s.lost} of ${s.windows_expected} | ${f(s.p50_ms)} / ${f(s.p95_ms)} / ${f(s.p99_ms)} ms | ${f(s.pipeline_cpu_pct, ' %')} | ` +
    `${f(s.broker_cpu_pct, ' %')} | ${f(s.rss_mb, ' MB')} | ${f(s.lag_max)} | ${f(s.healthz_p99_ms)} / ${f(s.metrics_p99_ms)} ms | ${f(s.loop_delay_p99_ms)} ms | ` +
    `${s.exit_code === null ? 'running' : `exited ${s.exit_code}`} |`
  );
}
export const TABLE_HEAD =
  '| sessions | lost | delay p50 / p95 / p99 | pipeline CPU (of 200 %) | broker CPU | pipeline RSS | lag max | /healthz / /metrics p99 (probe) | event-loop delay p99 | pipeline |\n' +
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |';

export async function writeHistogram(path: string, runs: RunResult[], label?: string): Promise<void> {
  const values = runs.flatMap((r) => r.delays.map((ms) => ({ sessions: `${r.sessions} sessions`, ms: Math.min(ms, 3000) })));
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `window close -> score at a WebSocket client${label ? ` (${label})` : ''}`,
    width: 560,
    height: 260,
    data: { values },
    mark: { type: 'bar', opacity: 0.6 },
    encoding: {
      x: { field: 'ms', type: 'quantitative', bin: { step: 50, extent: [0, 3000] }, title: 'delay, ms (3000 = 3000 or more)' },
      y: { aggregate: 'count', type: 'quantitative', title: 'windows', stack: null },
      color: { field: 'sessions', type: 'nominal', title: null },
    },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, await view.toSVG());
  view.finalize();
}
