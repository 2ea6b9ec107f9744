/**
 * Inference benchmark: micro-batched vs batch size 1, through the pipeline's own path
 * (microBatch -> ModelSession.run) and through ONNX Runtime alone (session.run on prebuilt
 * tensors), so the pipeline's overhead shows.
 *
 *   node --import tsx bench/inference.ts [model.onnx ...] [--windows 2000] [--concurrency 64]
 *        [--batch 32] [--delay-ms 2] [--in-flight 1] [--repeats 5] [--min-ms 300] [--threads N]
 *        [--provider cpu|cuda] [--pad-index 16,16]
 *
 * Always runs the test graph (test/fixtures/onnxGraph.ts, cheap: it shows overhead, not a model's
 * cost), then every .onnx path given. Load is closed-loop: `concurrency` windows are pending at any
 * time (as if that many sessions each had a window ready), a new one enters as one leaves, so
 * latency includes queueing. A run goes through the windows (cycling them) until it has lasted
 * `min-ms`, for both paths alike: on a busy machine a run shorter than a scheduler time slice
 * escapes preemption and would flatter whichever path is faster. Each figure is the median of
 * `repeats` runs, after a warm-up run.
 * Results: a table on stdout and bench/results/inference.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { Subject, lastValueFrom, tap } from 'rxjs';
import { createLogger } from '../src/log.js';
import type { PadIndex } from '../src/model/batchTensors.js';
import { microBatch } from '../src/operators/microBatch.js';
import { loadModel, onnxRuntimeVersion, type ExecutionProviderName, type ModelSession, type PreparedBatch } from '../src/model/onnxSession.js';
import type { ModelInput } from '../src/model/types.js';
import { writeTestGraph } from '../test/fixtures/onnxGraph.js';
import { randomWindows } from '../test/fixtures/windows.js';

const { values: flags, positionals: modelPaths } = parseArgs({
  allowPositionals: true,
  options: {
    windows: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '64' },
    batch: { type: 'string', default: '32' },
    'delay-ms': { type: 'string', default: '2' },
    'in-flight': { type: 'string', default: '1' },
    repeats: { type: 'string', default: '5' },
    'min-ms': { type: 'string', default: '300' },
    threads: { type: 'string' },
    provider: { type: 'string', default: 'cpu' },
    'pad-index': { type: 'string' },
  },
});

const positiveInt = (name: string, raw: string | undefined): number => {
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${raw}`);
  return v;
};
const config = {
  windows: positiveInt('windows', flags.windows),
  concurrency: positiveInt('concurrency', flags.concurrency),
  batch: positiveInt('batch', flags.batch),
  delayMs: Number(flags['delay-ms']),
  inFlight: positiveInt('in-flight', flags['in-flight']),
  repeats: positiveInt('repeats', flags.repeats),
  minMs: positiveInt('min-ms', flags['min-ms']),
  threads: flags.threads === undefined ? undefined : positiveInt('threads', flags.threads),
  provider: flags.provider as ExecutionProviderName,
};
if (config.provider !== 'cpu' && config.provider !== 'cuda') throw new RangeError(`--provider must be cpu or cuda, got ${config.provider}`);
const padIndexFlag = parsePadIndex(flags['pad-index']);

function parsePadIndex(raw: string | undefined): PadIndex | undefined {
  if (raw === undefined) return undefined;
  const [acoustic, visual] = raw.split(',').map(Number);
  if (!Number.isSafeInteger(acoustic) || !Number.isSafeInteger(visual)) throw new RangeError(`--pad-index must be "K_acoustic,K_visual", got ${raw}`);
  return { acoustic: acoustic as number, visual: visual as number };
}

interface Figure {
  windowsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanBatch: number;
}
interface ScenarioResult extends Figure {
  model: string;
  mode: 'pipeline' | 'onnxruntime';
  batch: number;
  runs: Figure[];
}

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const figureOf = (count: number, elapsedMs: number, latencies: number[], meanBatch: number): Figure => {
  latencies.sort((a, b) => a - b);
  return { windowsPerSec: (count / elapsedMs) * 1000, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), meanBatch };
};

/** The pipeline's path: closed-loop windows through microBatch into ModelSession.run. */
async function pipelineRun(
  session: ModelSession,
  windows: readonly ModelInput[],
  maxBatchSize: number,
  maxQueueDelayMs: number,
  minMs: number,
): Promise<Figure> {
  const source = new Subject<ModelInput>();
  const started: number[] = [];
  const latencies: number[] = [];
  let sent = 0;
  let batches = 0;
  let stopped = false;
  const t0 = performance.now();
  const send = () => {
    const w = windows[sent % windows.length] as ModelInput;
    started.push(performance.now());
    sent++;
    source.next(w);
    if (sent >= windows.length && performance.now() - t0 >= minMs) {
      stopped = true;
      source.complete();
    }
  };
  const done = lastValueFrom(
    source.pipe(
      microBatch(
        { maxBatchSize, maxQueueDelayMs, maxInFlight: config.inFlight, maxQueued: Math.max(config.concurrency, maxBatchSize), onBatch: () => batches++ },
        (items: ModelInput[]) => session.run(items),
      ),
      tap(() => {
        // results come in input order, so the i-th result belongs to the i-th window sent
        latencies.push(performance.now() - (started[latencies.length] as number));
        if (!stopped) send();
      }),
    ),
    { defaultValue: undefined },
  );
  for (let i = 0; i < config.concurrency && !stopped; i++) send();
  await done;
  return figureOf(sent, performance.now() - t0, latencies, sent / batches);
}

/** ONNX Runtime alone: session.run on tensors built beforehand, one call at a time. */
async function rawRun(session: ModelSession, windows: readonly ModelInput[], batch: number, minMs: number): Promise<Figure> {
  const prepared = [];
  for (let i = 0; i + batch <= windows.length; i += batch) prepared.push(session.prepare(windows.slice(i, i + batch)));
  const latencies: number[] = [];
  const t0 = performance.now();
  let calls = 0;
  while (calls < prepared.length || performance.now() - t0 < minMs) {
    const s = performance.now();
    await session.runPrepared(prepared[calls % prepared.length] as PreparedBatch);
    latencies.push(performance.now() - s);
    calls++;
  }
  return figureOf(calls * batch, performance.now() - t0, latencies, batch);
}

async function benchModel(
  path: string,
  label: string,
  bar: cliProgress.SingleBar,
): Promise<{ session: Pick<ModelSession, 'kind' | 'provider' | 'requestedProvider' | 'metadata'>; results: ScenarioResult[] }> {
  const session = await loadModel({
    path,
    executionProvider: config.provider,
    logger: createLogger('warn', 'bench'),
    ...(config.threads !== undefined ? { intraOpThreads: config.threads } : {}),
    ...(padIndexFlag ? { padIndex: padIndexFlag } : {}),
  });
  try {
    const windows = randomWindows(config.windows, session.padIndex, 11);
    const warmup = windows.slice(0, Math.min(200, windows.length));
    type Run = (ws: readonly ModelInput[], minMs: number) => Promise<Figure>;
    const scenarios: { mode: ScenarioResult['mode']; batch: number; run: Run }[] = [
      { mode: 'pipeline', batch: config.batch, run: (ws, minMs) => pipelineRun(session, ws, config.batch, config.delayMs, minMs) },
      { mode: 'pipeline', batch: 1, run: (ws, minMs) => pipelineRun(session, ws, 1, 0, minMs) },
      { mode: 'onnxruntime', batch: config.batch, run: (ws, minMs) => rawRun(session, ws, config.batch, minMs) },
      { mode: 'onnxruntime', batch: 1, run: (ws, minMs) => rawRun(session, ws, 1, minMs) },
    ];
    const results: ScenarioResult[] = [];
    for (const s of scenarios) {
      await s.run(warmup, 1);
      const runs: Figure[] = [];
      for (let r = 0; r < config.repeats; r++) {
        runs.push(await s.run(windows, config.minMs));
        bar.increment({ step: `${label} ${s.mode} b=${s.batch}` });
      }
      results.push({
        model: label,
        mode: s.mode,
        batch: s.batch,
        runs,
        windowsPerSec: median(runs.map((f) => f.windowsPerSec)),
        p50Ms: median(runs.map((f) => f.p50Ms)),
        p99Ms: median(runs.map((f) => f.p99Ms)),
        meanBatch: median(runs.map((f) => f.meanBatch)),
      });
    }
    return { session, results };
  } finally {
    await session.release();
  }
}

function printTable(results: ScenarioResult[]): void {
  const header = ['model', 'mode', 'batch', 'mean batch', 'windows/s', 'p50 ms', 'p99 ms'];
  const rows = results.map((r) => [
    r.model,
    r.mode,
    String(r.batch),
    r.meanBatch.toFixed(1),
    r.windowsPerSec.toFixed(0),
    r.p50Ms.toFixed(3),
    r.p99Ms.toFixed(3),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

const ratiosOf = (results: ScenarioResult[]) => {
  const find = (mode: ScenarioResult['mode'], batch: number) => results.find((r) => r.mode === mode && r.batch === batch) as ScenarioResult;
  const pipeB = find('pipeline', config.batch);
  const pipe1 = find('pipeline', 1);
  const rawB = find('onnxruntime', config.batch);
  const raw1 = find('onnxruntime', 1);
  return {
    /** Throughput gained by micro-batching, through the pipeline. */
    pipelineBatchedOverSingle: pipeB.windowsPerSec / pipe1.windowsPerSec,
    /** The same for ONNX Runtime alone: the most batching can give. */
    onnxRuntimeBatchedOverSingle: rawB.windowsPerSec / raw1.windowsPerSec,
    /** Pipeline throughput as a share of ONNX Runtime's at the same batch size (1 = no overhead). */
    pipelineShareOfOnnxRuntimeBatched: pipeB.windowsPerSec / rawB.windowsPerSec,
    pipelineShareOfOnnxRuntimeSingle: pipe1.windowsPerSec / raw1.windowsPerSec,
  };
};

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  const graph = await writeTestGraph();
  const targets = [{ path: graph.path, label: 'test-graph' }, ...modelPaths.map((p) => ({ path: p, label: p }))];
  const bar = new cliProgress.SingleBar(
    { format: 'bench {bar} {value}/{total} {step}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(targets.length * 4 * config.repeats, 0, { step: '' });
  const models = [];
  try {
    for (const t of targets) {
      const { session, results } = await benchModel(t.path, t.label, bar);
      models.push({
        label: t.label,
        path: t.path,
        kind: session.kind ?? null,
        provider: session.provider,
        requestedProvider: session.requestedProvider,
        modelVersion: session.metadata.modelVersion,
        producer: `${session.metadata.producerName} ${session.metadata.producerVersion}`.trim(),
        results,
        ratios: ratiosOf(results),
      });
    }
  } finally {
    bar.stop();
    await graph.cleanup();
  }

  const all = models.flatMap((m) => m.results);
  // other processes on a small machine preempt the runs: say how busy it was
  const load = { before: loadBefore, after: loadavg()[0] ?? 0 };
  console.log(
    `\ninference benchmark: ${config.windows} windows, concurrency ${config.concurrency}, batch ${config.batch}, ` +
      `delay ${config.delayMs} ms, in-flight ${config.inFlight}, medians of ${config.repeats} runs of >= ${config.minMs} ms, ` +
      `${cpus().length} cores (load average ${load.before.toFixed(1)} -> ${load.after.toFixed(1)}), onnxruntime-node ${onnxRuntimeVersion()}\n`,
  );
  printTable(all);
  for (const m of models) {
    const r = m.ratios;
    console.log(
      `\n${m.label} (${m.provider}${m.kind ? `, ${m.kind}` : ''}): micro-batched / batch 1 = ${r.pipelineBatchedOverSingle.toFixed(2)}x through the pipeline, ` +
        `${r.onnxRuntimeBatchedOverSingle.toFixed(2)}x in ONNX Runtime alone; pipeline reaches ` +
        `${(r.pipelineShareOfOnnxRuntimeBatched * 100).toFixed(0)}% of ONNX Runtime's throughput at batch ${config.batch}, ` +
        `${(r.pipelineShareOfOnnxRuntimeSingle * 100).toFixed(0)}% at batch 1`,
    );
  }

  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'inference.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: {
          cpu: cpus()[0]?.model ?? 'unknown',
          cores: cpus().length,
          loadAverage1m: load,
          platform: `${platform()} ${release()}`,
          node: process.version,
        },
        onnxRuntime: onnxRuntimeVersion(),
        config,
        models: models.map((m) => ({ ...m, path: m.label === 'test-graph' ? '(temp file, test/fixtures/onnxGraph.ts)' : m.path })),
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nresults written to ${out}`);
}

try {
  await main();
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`bench: ${message}${/pad index/.test(message) ? ' (here: --pad-index K_acoustic,K_visual)' : ''}`);
  process.exitCode = 1;
}
