/**
 * The model in worker threads (src/model/inferencePool.ts): the same results as the session in
 * this thread on real MOSI rows, and a worker that dies under a batch costs nothing but a retry;
 * a batch whose worker dies twice is rejected as an InferenceCrashError, which scoreWindows
 * dead-letters instead of failing the stream.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { readLabelledCsv } from '../../src/datasets/labelledCsv.js';
import { silentLogger } from '../../src/log.js';
import { loadManifest } from '../../src/model/manifest.js';
import { InferenceCrashError, startInferencePool, type InferencePool, type InferencePoolEvent } from '../../src/model/inferencePool.js';
import { loadModel } from '../../src/model/onnxSession.js';
import { loadServedModel } from '../../src/model/servedModel.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import type { ModelInput, ModelOutput } from '../../src/model/types.js';
import { scoreWindows } from '../../src/pipeline/scoring.js';
import type { SessionWindow } from '../../src/windows/types.js';
import { dataDir, repoRoot } from '../fixtures/env.js';
import { writeTestGraph, type TestGraphFile } from '../fixtures/onnxGraph.js';
import { randomWindows } from '../fixtures/windows.js';
import { transcriptSegment } from '../fixtures/records.js';

const words = (ids: number[]): ModelInput => ({
  inputIds: ids,
  attentionMask: ids.map(() => 1),
  acousticIds: [32],
  acousticMask: [0],
  visualIds: [32],
  visualMask: [0],
});

describe('inference pool on the shipped model', () => {
  it('scores real MOSI rows exactly as the session in this thread does, batched and row by row', async () => {
    const manifest = await loadManifest(join(repoRoot, 'models', 'manifest.json'));
    const tokenizer = await loadTokenizer(manifest.tokenizerPath);
    const csv = await readLabelledCsv(join(dataDir, 'mosi', 'label.csv'));
    const rows = csv.rows.slice(0, 48);
    assert.equal(rows.length, 48, 'MOSI label.csv has rows');
    const encoded = tokenizer.encode(
      rows.map((r) => r.text),
      manifest.maxTextTokens,
    );
    const inputs = encoded.inputIds.map(words);
    const local = await loadModel({ path: manifest.modelPath, executionProvider: 'cpu', intraOpThreads: 1, padIndex: manifest.padIndex, logger: silentLogger });
    const pool = await startInferencePool({
      path: manifest.modelPath,
      executionProvider: 'cpu',
      workers: 2,
      threadsPerWorker: 1,
      padIndex: manifest.padIndex,
      logger: silentLogger,
    });
    const perRowDispatches: { worker: number; size: number }[] = [];
    const perRow = await startInferencePool({
      path: manifest.modelPath,
      executionProvider: 'cpu',
      workers: 2,
      threadsPerWorker: 1,
      padIndex: manifest.padIndex,
      perRow: true,
      logger: silentLogger,
      onEvent: (e) => {
        if (e.type === 'dispatch') perRowDispatches.push({ worker: e.worker, size: e.size });
      },
    });
    try {
      // Batches of 16 as the micro-batcher would cut them, several in flight across both workers.
      const batches = [inputs.slice(0, 16), inputs.slice(16, 32), inputs.slice(32)];
      const expected = (await Promise.all(batches.map((b) => local.run(b)))).flat();
      const got = (await Promise.all(batches.map((b) => pool.run(b)))).flat();
      assert.deepEqual(got, expected);
      assert.ok(new Set(expected.map((o) => o.score.toFixed(4))).size > 20, 'real rows give varied scores');
      // Row by row: each row as it scores alone in this thread; the batch split in one part per worker.
      const alone = [];
      for (const input of inputs) alone.push(...(await local.run([input])));
      assert.deepEqual(await perRow.run(inputs), alone);
      assert.deepEqual(
        perRowDispatches.map((d) => d.size),
        [24, 24],
      );
      assert.deepEqual(new Set(perRowDispatches.map((d) => d.worker)), new Set([0, 1]));
    } finally {
      await Promise.all([local.release(), pool.release(), perRow.release()]);
    }
  });
});

describe('the dynamic int8 graph, served one row per run', () => {
  it('scores each row as it scores alone, whatever its batch; batched, its scores would depend on the neighbours', async () => {
    const manifestFile = join(repoRoot, 'models', 'manifest.json');
    const manifest = await loadManifest(manifestFile);
    assert.ok(manifest.dynamicInt8Path, 'models/manifest.json names dynamicInt8.file');
    const tokenizer = await loadTokenizer(manifest.tokenizerPath);
    const csv = await readLabelledCsv(join(dataDir, 'mosi', 'label.csv'));
    const inputs = tokenizer
      .encode(
        csv.rows.slice(0, 24).map((r) => r.text),
        manifest.maxTextTokens,
      )
      .inputIds.map(words);
    const served = await loadServedModel({
      manifest: manifestFile,
      executionProvider: 'cpu',
      intraOpThreads: 1,
      dynamicInt8: true,
      workers: 1,
      threadsPerWorker: 1,
      logger: silentLogger,
    });
    const local = await loadModel({
      path: manifest.dynamicInt8Path,
      executionProvider: 'cpu',
      intraOpThreads: 1,
      padIndex: manifest.padIndex,
      logger: silentLogger,
    });
    try {
      assert.match(served.version, /\+dynamic-int8$/);
      const alone: ModelOutput[] = [];
      for (const input of inputs) alone.push(...(await local.run([input])));
      assert.deepEqual(await served.session.run(inputs), alone, 'one row per run: each score is the row alone');
      assert.deepEqual(await served.session.run(inputs.slice(8, 16)), alone.slice(8, 16), 'other neighbours, same scores');
      // Why: the same graph run on the batch scales activations per batch.
      const batched = await local.run(inputs);
      const worst = Math.max(...batched.map((o, i) => Math.abs(o.score - alone[i]!.score)));
      assert.ok(worst > 1e-4, `batched scores differ from row-alone ones (max ${worst})`);
    } finally {
      await Promise.all([served.session.release(), local.release()]);
    }
  });

  it('is off with model.dynamicInt8 false, and a manifest without one serves its own graph', async () => {
    const off = await loadServedModel({
      manifest: join(repoRoot, 'models', 'manifest.json'),
      executionProvider: 'cpu',
      intraOpThreads: 1,
      dynamicInt8: false,
      logger: silentLogger,
    });
    try {
      assert.equal(off.version, 'msa-minilm-cenet@0.3.0');
      assert.match(off.session.path, /int8-weights\.onnx$/);
    } finally {
      await off.session.release();
    }
    const multimodal = await loadServedModel({
      manifest: join(repoRoot, 'models', 'manifest.multimodal.json'),
      executionProvider: 'cpu',
      intraOpThreads: 1,
      dynamicInt8: true,
      logger: silentLogger,
    });
    try {
      assert.doesNotMatch(multimodal.version, /dynamic-int8/);
    } finally {
      await multimodal.session.release();
    }
  });
});

describe('inference pool: a worker that dies', () => {
  let graph: TestGraphFile;
  let pool: InferencePool;
  const events: InferencePoolEvent[] = [];
  let onDispatch: ((e: Extract<InferencePoolEvent, { type: 'dispatch' }>) => void) | null = null;
  const windows = randomWindows(64, { acoustic: 16, visual: 16 }, 5);

  before(async () => {
    graph = await writeTestGraph();
    pool = await startInferencePool({
      path: graph.path,
      executionProvider: 'cpu',
      workers: 1,
      threadsPerWorker: 1,
      logger: silentLogger,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'dispatch') onDispatch?.(e);
      },
    });
  });
  after(async () => {
    await pool?.release();
    await graph?.cleanup();
  });

  it('retries the batch once on a new worker: same results, nothing lost', async () => {
    const expected = await pool.run(windows.slice(0, 8));
    let kills = 0;
    onDispatch = () => {
      if (kills++ === 0) void pool.terminateWorker(0); // dies while it holds the batch
    };
    const got = await pool.run(windows.slice(0, 8));
    onDispatch = null;
    assert.deepEqual(got, expected);
    assert.equal(pool.stats().crashes, 1);
    assert.equal(pool.stats().retried, 1);
    const dispatches = events.filter((e) => e.type === 'dispatch').slice(-2);
    assert.deepEqual(
      dispatches.map((e) => (e.type === 'dispatch' ? e.attempt : -1)),
      [0, 1],
    );
  });

  it('rejects a batch whose worker dies twice with InferenceCrashError, and goes on with the next', async () => {
    onDispatch = () => void pool.terminateWorker(0);
    await assert.rejects(pool.run(windows.slice(0, 4)), InferenceCrashError);
    onDispatch = null;
    assert.equal(pool.stats().failed, 1);
    const after = await pool.run(windows.slice(4, 8));
    assert.equal(after.length, 4);
  });

  it('scoreWindows dead-letters the windows of that batch (onFailed) and scores the rest', async () => {
    const tokenizer = await loadTokenizer(join(repoRoot, 'models', 'tokenizer'));
    const window = (end: number, text: string): SessionWindow => ({
      sessionId: 's',
      start: end - 1000,
      end,
      audio: [],
      video: [],
      transcript: [transcriptSegment({ sessionId: 's', segmentId: `seg-${end}`, eventTime: end - 500, endTime: end - 100, text, language: null })],
      positions: [{ topic: 'audio', partition: 0, offset: String(end) }],
      closedAt: 0,
    });
    const failed: { end: number; err: unknown }[] = [];
    const windows$ = new Subject<SessionWindow>();
    let batch = 0;
    onDispatch = (e) => {
      if (e.batch === batch) void pool.terminateWorker(0); // the first batch of this test dies, twice
    };
    const out = lastValueFrom(
      windows$.pipe(
        scoreWindows({
          tokenizer,
          maxTextTokens: 64,
          padIndex: { acoustic: 16, visual: 16 },
          runModel: (inputs) => pool.run(inputs),
          modelVersion: 't',
          batching: { maxBatchSize: 2, maxQueueDelayMs: 60_000, maxInFlight: 1, maxQueued: 100 }, // [1000, 2000] full, [3000] at completion
          rolling: { smoothing: { method: 'ema', alpha: 0.5 } },
          onFailed: (w, err) => failed.push({ end: w.end, err }),
        }),
        toArray(),
      ),
    );
    batch = Math.max(...events.filter((e) => e.type === 'dispatch').map((e) => (e.type === 'dispatch' ? e.batch : 0))) + 1;
    windows$.next(window(1000, 'good'));
    windows$.next(window(2000, 'very good'));
    windows$.next(window(3000, 'bad'));
    windows$.complete();
    const items = await out;
    onDispatch = null;
    const scored = items.filter((i) => i.kind === 'score').map((i) => (i.kind === 'score' ? i.score.windowEnd : 0));
    assert.deepEqual(
      failed.map((f) => f.end),
      [1000, 2000],
    );
    assert.ok(failed.every((f) => f.err instanceof InferenceCrashError));
    assert.deepEqual(scored, [3000]);
  });
});
