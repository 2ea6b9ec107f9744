/**
 * The pipeline against ONNX Runtime alone, in one run (issue 13: the pipeline should reach >= 80 %
 * of raw ONNX Runtime windows/s).
 *
 *   node --import tsx bench/ceiling.ts [--sessions 40] [--repeats 3] [--min-ms 5000] [--json]
 *
 * - Pipeline: the whole service in this process (the default manifest and `model.*` settings:
 *   worker pool, dynamic int8 per row), on the project's own broker (started here on
 *   127.0.0.1:19311, controller 19312, data <cacheDir>/ceiling-bench-kafka; stopped at the end),
 *   fresh topics per run. `--sessions` generated sessions (audio every 100 ms + transcript, as
 *   `npm start`'s sample) are written to the input topics FIRST, as a backlog, then the pipeline is
 *   started: windows/s = windows scored / time from its first score to its last. Kafka reads,
 *   decoding, windowing, tokenising, the model, the score writes (exactly-once transactions) and
 *   WebSocket fan-out are all in it; the broker runs on the same cores.
 * - ONNX Runtime alone: the same windows (their model inputs built from the same records with the
 *   pipeline's buildWindowInput and tokenizer), on the same graph the service serves, in this
 *   thread with prebuilt tensors, one row per run (as the served dynamic int8 graph runs), ORT's
 *   default intra-op threads: nothing but `session.run`, for at least `--min-ms`.
 * - Runs alternate (pipeline, raw) `--repeats` times; medians and the ratio pipeline / raw.
 *
 * Output: a table on stderr; with --json one last line
 * {"sessions","windows","pipeline_windows_per_s","raw_windows_per_s","ratio","load_before","load_after","runs":[...]}.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/config.js';
import { stopBroker } from '../src/broker/index.js';
import { median, ownBroker, startFreshBroker } from './ownBroker.js';
import { silentLogger } from '../src/log.js';
import { openRecordSender } from '../src/ingest/kafkaSender.js';
import { replay } from '../src/ingest/replay.js';
import { generateSession } from '../src/ingest/sampleSession.js';
import { startService } from '../src/pipeline/service.js';
import { servedGraphPath } from '../src/model/servedModel.js';
import { loadManifest } from '../src/model/manifest.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { loadModel, type PreparedBatch } from '../src/model/onnxSession.js';
import { buildWindowInput } from '../src/model/windowInputs.js';
import type { InputRecord, TranscriptSegment } from '../src/schemas/records.js';
import type { SessionWindow } from '../src/windows/types.js';
import { windowsWithWords } from '../test/fixtures/expectedWindows.js';

const { values: flags } = parseArgs({
  options: {
    sessions: { type: 'string', default: '40' },
    repeats: { type: 'string', default: '3' },
    'min-ms': { type: 'string', default: '5000' },
    json: { type: 'boolean', default: false },
  },
});
const int = (name: string, raw: string | undefined): number => {
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${raw}`);
  return v;
};
const sessions = int('sessions', flags.sessions);
const repeats = int('repeats', flags.repeats);
const minMs = int('min-ms', flags['min-ms']);

const PORT = 19311;
const CONTROLLER_PORT = 19312;
const T0 = 1_760_000_000_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stderr.write(`[ceiling ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

const base = loadConfig({ env: process.env });
const W = base.windows.sizeMs;
const H = base.windows.hopMs;
const { options: brokerOpts, brokers } = ownBroker(base, PORT, CONTROLLER_PORT, 'ceiling-bench-kafka');
const runId = Date.now().toString(36);

const records: InputRecord[] = Array.from({ length: sessions }, (_, i) =>
  generateSession({ sessionId: `ceiling-${i}`, startTime: T0 + i * 337, endOfStream: true, seed: i + 1 }),
).flat();
records.sort((a, b) => a.value.eventTime - b.value.eventTime);
const expected = windowsWithWords(records, W, H);
const windowCount = [...expected.values()].reduce((n, s) => n + s.size, 0);

/** The windows a words-only model scores, as SessionWindows holding their transcript segments. */
function expectedWindows(): SessionWindow[] {
  const segments = new Map<string, TranscriptSegment[]>();
  for (const r of records) if (r.kind === 'transcript') segments.set(r.value.sessionId, [...(segments.get(r.value.sessionId) ?? []), r.value]);
  const out: SessionWindow[] = [];
  for (const [sessionId, ends] of expected) {
    for (const end of ends) {
      const start = end - W;
      const transcript = (segments.get(sessionId) ?? []).filter((s) => s.eventTime < end && Math.max(s.endTime, s.eventTime + 1) > start);
      out.push({ sessionId, start, end, audio: [], video: [], transcript, positions: [], closedAt: 0 });
    }
  }
  return out;
}

async function pipelineRun(rep: number): Promise<number> {
  const prefix = `ceiling-${runId}-${rep}.`;
  const config = loadConfig({
    env: process.env,
    overrides: { logLevel: 'silent', kafka: { brokers, topicPrefix: prefix, groupId: `${prefix}g` }, asr: { mode: 'off' }, ws: { port: 0 } },
  });
  const sender = await openRecordSender({ config, brokers, logger: silentLogger });
  await replay(records, sender, { speed: 0, startTime: null });
  await sender.close();
  let first = 0;
  let last = 0;
  let scored = 0;
  const service = await startService({ config, brokers, logger: silentLogger, sample: null });
  let failed = false;
  service.done.catch((err: unknown) => {
    failed = true;
    log(`pipeline #${rep} failed: ${String(err)}`);
  });
  service.pipeline.scores$.subscribe({
    next: () => {
      const now = performance.now();
      if (scored++ === 0) first = now;
      last = now;
    },
    error: () => undefined,
  });
  let lastCount = -1;
  let quietSince = Date.now();
  while (scored < windowCount && !failed && Date.now() - quietSince < 30_000) {
    if (scored !== lastCount) [lastCount, quietSince] = [scored, Date.now()];
    await sleep(100);
  }
  await service.stop();
  const rate = scored > 1 ? ((scored - 1) * 1000) / (last - first) : 0;
  log(`pipeline #${rep}: ${scored}/${windowCount} windows in ${((last - first) / 1000).toFixed(1)} s: ${rate.toFixed(1)} windows/s`);
  if (scored < windowCount) log(`pipeline #${rep}: ${windowCount - scored} windows not scored within 30 s of the last one`);
  return rate;
}

async function rawRun(rep: number, prepared: PreparedBatch[], run: (p: PreparedBatch) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < minMs) await run(prepared[n++ % prepared.length]!);
  const rate = (n / (performance.now() - t0)) * 1000;
  log(`ONNX Runtime alone #${rep}: ${n} windows, ${rate.toFixed(1)} windows/s`);
  return rate;
}

await startFreshBroker(brokerOpts);
const loadBefore = loadavg()[0] ?? 0;
const runs: Array<{ pipeline: number; raw: number }> = [];
try {
  // The graph and inputs the service serves: the same manifest and model settings.
  const manifest = await loadManifest(base.model.manifest);
  const tokenizer = await loadTokenizer(manifest.tokenizerPath);
  const graph = servedGraphPath(manifest, base.model.dynamicInt8);
  const session = await loadModel({ path: graph, executionProvider: 'cpu', padIndex: manifest.padIndex, logger: silentLogger });
  try {
    const inputs = expectedWindows().map(
      (w) =>
        buildWindowInput(w, {
          tokenizer,
          maxTextTokens: manifest.maxTextTokens,
          padIndex: manifest.padIndex,
          maxWords: base.limits.maxWordsPerWindow,
        }).input,
    );
    const prepared = inputs.map((i) => session.prepare([i]));
    log(`${sessions} sessions, ${windowCount} windows with words; graph ${graph}`);
    for (const p of prepared.slice(0, 50)) await session.runPrepared(p);
    for (let r = 1; r <= repeats; r++) {
      const pipeline = await pipelineRun(r);
      const raw = await rawRun(r, prepared, (p) => session.runPrepared(p));
      runs.push({ pipeline, raw });
    }
  } finally {
    await session.release();
  }
} finally {
  await stopBroker(brokerOpts, silentLogger).catch(() => undefined);
}
const loadAfter = loadavg()[0] ?? 0;
const pipelineMed = median(runs.map((r) => r.pipeline));
const rawMed = median(runs.map((r) => r.raw));
const ratio = pipelineMed / rawMed;
log(
  `medians of ${repeats}: pipeline ${pipelineMed.toFixed(1)} windows/s, ONNX Runtime alone ${rawMed.toFixed(1)} windows/s, ratio ${ratio.toFixed(2)} (load ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)})`,
);
if (flags.json) {
  console.log(
    JSON.stringify({
      sessions,
      windows: windowCount,
      pipeline_windows_per_s: Math.round(pipelineMed * 10) / 10,
      raw_windows_per_s: Math.round(rawMed * 10) / 10,
      ratio: Math.round(ratio * 100) / 100,
      load_before: loadBefore,
      load_after: loadAfter,
      runs,
    }),
  );
}
// kafkajs and ONNX Runtime leave handles open after release; the figures are out.
process.exit(0);
