/**
 * Where to run the sentiment model: in the event loop's thread (as before) or in a pool of worker
 * threads, and with how many ONNX Runtime threads each. For each layout it drives closed-loop
 * windows through the pipeline's micro-batcher and measures windows/s, window latency, and the
 * event loop's delay (perf_hooks monitorEventLoopDelay, 1 ms resolution): how long a /healthz or a
 * Kafka fetch would wait behind the model. ONNX Runtime alone (in this thread, prebuilt tensors,
 * batch 1) gives the ceiling.
 *
 *   node --import tsx bench/workers.ts [--model models/msa-minilm-cenet.int8-weights.onnx]
 *        [--layouts main:0,main:1,1x2,2x1] [--concurrency 64] [--batch 32] [--per-row]
 *        [--repeats 3] [--min-ms 3000] [--max-text 32]
 *
 * A layout is `main:T` (this thread, T intra-op threads, 0 = ONNX Runtime's default) or `WxT`
 * (W workers of T threads each), optionally `+rows` (each window run alone: `model.perRow`) and
 * `@file.onnx` (another model than --model), e.g. `2x1,2x1+rows@models/other.onnx`. All layouts are
 * loaded first and their runs interleaved (repeat r of every layout before repeat r + 1), so a
 * machine whose load drifts weighs on all alike. Windows: words only (text of 1..max-text tokens,
 * no voice or face), as the default manifest serves. Medians of `repeats` runs after a warm-up;
 * results in bench/results/workers.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Subject, lastValueFrom, tap } from 'rxjs';
import { createLogger } from '../src/log.js';
import { startInferencePool, type ModelRunner } from '../src/model/inferencePool.js';
import { loadModel, type PreparedBatch } from '../src/model/onnxSession.js';
import type { ModelInput } from '../src/model/types.js';
import { microBatch } from '../src/operators/microBatch.js';
import { randomWindows } from '../test/fixtures/windows.js';

const { values: flags } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/msa-minilm-cenet.int8-weights.onnx' },
    layouts: { type: 'string', default: 'main:0,main:1,1x1,1x2,2x1' },
    concurrency: { type: 'string', default: '64' },
    batch: { type: 'string', default: '32' },
    'per-row': { type: 'boolean', default: false },
    repeats: { type: 'string', default: '3' },
    'min-ms': { type: 'string', default: '3000' },
    'max-text': { type: 'string', default: '32' },
    'pad-index': { type: 'string', default: '32,32' },
  },
});
const int = (name: string, raw: string | undefined, min = 1): number => {
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`--${name} must be an integer >= ${min}, got ${raw}`);
  return v;
};
const concurrency = int('concurrency', flags.concurrency);
const batch = int('batch', flags.batch);
const repeats = int('repeats', flags.repeats);
const minMs = int('min-ms', flags['min-ms']);
const perRow = flags['per-row'];
const [acousticPad, visualPad] = (flags['pad-index'] ?? '').split(',').map(Number);
const padIndex = { acoustic: acousticPad ?? 32, visual: visualPad ?? 32 };
const layouts = (flags.layouts ?? '').split(',').map((raw) => {
  const m = /^(?:main:(\d+)|(\d+)x(\d+))(\+rows)?(?:@(.+))?$/.exec(raw.trim());
  if (!m) throw new RangeError(`--layouts: "${raw}" is not main:T or WxT, optionally +rows and @model.onnx`);
  const rows = perRow || m[4] !== undefined;
  const model = m[5] ?? flags.model!;
  return m[1] !== undefined
    ? { label: raw, workers: 0, threads: Number(m[1]), rows, model }
    : { label: raw, workers: Number(m[2]), threads: Number(m[3]), rows, model };
});
const logger = createLogger('warn', 'bench');
const windows = randomWindows(2000, padIndex, 11, {
  maxText: int('max-text', flags['max-text']),
  maxAcoustic: 1,
  maxVisual: 1,
  vocabSize: 30522,
  absentRate: 1,
});

interface Figure {
  windowsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}
const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Closed loop: `concurrency` windows pending, through microBatch into runner.run, for at least `ms`. */
async function drive(runner: Pick<ModelRunner, 'run'>, inFlight: number, ms: number): Promise<Figure> {
  const source = new Subject<ModelInput>();
  const started: number[] = [];
  const latencies: number[] = [];
  let sent = 0;
  let stopped = false;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  const send = () => {
    started.push(performance.now());
    source.next(windows[sent++ % windows.length]!);
    if (performance.now() - t0 >= ms) {
      stopped = true;
      source.complete();
    }
  };
  const done = lastValueFrom(
    source.pipe(
      microBatch({ maxBatchSize: batch, maxQueueDelayMs: 2, maxInFlight: inFlight, maxQueued: Math.max(concurrency, batch) }, (items: ModelInput[]) =>
        runner.run(items),
      ),
      tap(() => {
        latencies.push(performance.now() - started[latencies.length]!);
        if (!stopped) send();
      }),
    ),
    { defaultValue: undefined },
  );
  for (let i = 0; i < concurrency && !stopped; i++) send();
  await done;
  const elapsed = performance.now() - t0;
  loop.disable();
  latencies.sort((a, b) => a - b);
  return {
    windowsPerSec: (sent / elapsed) * 1000,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
  };
}

/** ONNX Runtime alone in this thread, batch 1 on prebuilt tensors: the ceiling. */
async function raw(threads: number, ms: number): Promise<number> {
  const session = await loadModel({ path: flags.model!, executionProvider: 'cpu', intraOpThreads: threads || undefined, padIndex, logger });
  try {
    const prepared: PreparedBatch[] = windows.slice(0, 500).map((w) => session.prepare([w]));
    for (const p of prepared.slice(0, 50)) await session.runPrepared(p);
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < ms) await session.runPrepared(prepared[n++ % prepared.length]!);
    return (n / (performance.now() - t0)) * 1000;
  } finally {
    await session.release();
  }
}

async function runnerFor(layout: (typeof layouts)[number]): Promise<ModelRunner> {
  if (layout.workers === 0) {
    const session = await loadModel({ path: layout.model, executionProvider: 'cpu', intraOpThreads: layout.threads || undefined, padIndex, logger });
    if (!layout.rows) return session;
    return {
      ...session,
      run: async (inputs) => {
        const out = [];
        for (const i of inputs) out.push(...(await session.run([i])));
        return out;
      },
    };
  }
  return startInferencePool({
    path: layout.model,
    executionProvider: 'cpu',
    workers: layout.workers,
    threadsPerWorker: layout.threads,
    padIndex,
    perRow: layout.rows,
    logger,
  });
}

const loadBefore = loadavg()[0] ?? 0;
const rawRuns: number[] = [];
for (let r = 0; r < repeats; r++) rawRuns.push(await raw(0, minMs));
const runners: ModelRunner[] = [];
const runs: Figure[][] = layouts.map(() => []);
try {
  for (const layout of layouts) runners.push(await runnerFor(layout));
  for (const [i, runner] of runners.entries()) await drive(runner, Math.max(1, layouts[i]!.workers), 500);
  for (let r = 0; r < repeats; r++) {
    for (const [i, runner] of runners.entries()) runs[i]!.push(await drive(runner, Math.max(1, layouts[i]!.workers), minMs));
  }
} finally {
  await Promise.all(runners.map((runner) => runner.release()));
}
const results = layouts.map((layout, i) => {
  const med = (k: keyof Figure) => median(runs[i]!.map((f) => f[k]));
  return {
    layout: layout.label,
    runs: runs[i]!,
    median: {
      windowsPerSec: med('windowsPerSec'),
      p50Ms: med('p50Ms'),
      p99Ms: med('p99Ms'),
      loopDelayP99Ms: med('loopDelayP99Ms'),
      loopDelayMaxMs: med('loopDelayMaxMs'),
    },
  };
});
const rawWps = median(rawRuns);
const load = { before: loadBefore, after: loadavg()[0] ?? 0 };
console.log(
  `\n${flags.model}: words-only windows, concurrency ${concurrency}, batch ${batch}${perRow ? ' (rows run one at a time)' : ''}, ` +
    `medians of ${repeats} x ${minMs} ms, ${cpus().length} cores, load average ${load.before.toFixed(1)} -> ${load.after.toFixed(1)}\n`,
);
console.log('| layout | windows/s | share of raw ORT | window p50 / p99 ms | event-loop delay p99 / max ms |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of results) {
  const m = r.median;
  console.log(
    `| ${r.layout} | ${m.windowsPerSec.toFixed(0)} | ${((m.windowsPerSec / rawWps) * 100).toFixed(0)} % | ${m.p50Ms.toFixed(0)} / ${m.p99Ms.toFixed(0)} | ${m.loopDelayP99Ms.toFixed(1)} / ${m.loopDelayMaxMs.toFixed(1)} |`,
  );
}
console.log(`| ONNX Runtime alone, this thread, batch 1, default threads | ${rawWps.toFixed(0)} | 100 % | | |`);
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'workers.json');
await mkdir(dirname(out), { recursive: true });
await writeFile(
  out,
  JSON.stringify(
    { date: new Date().toISOString(), model: flags.model, concurrency, batch, perRow, repeats, minMs, load, rawWindowsPerSec: rawWps, results },
    null,
    2,
  ) + '\n',
);
console.log(`\nresults written to ${out}`);
