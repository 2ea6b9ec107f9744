import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { silentLogger } from '../../src/log.js';
import { padBatch } from '../../src/model/batchTensors.js';
import { readOnnxMetadata } from '../../src/model/onnxMetadata.js';
import { loadModel, type ModelSession } from '../../src/model/onnxSession.js';
import type { ModelInput, ModelOutput } from '../../src/model/types.js';
import { DEFAULT_PAD_INDEX, DEFAULT_WEIGHTS, TEST_GRAPH_KIND, referenceOutput, writeTestGraph, type TestGraphFile } from '../fixtures/onnxGraph.js';
import { randomWindows } from '../fixtures/windows.js';

const TOLERANCE = 1e-6;

function assertClose(actual: ModelOutput, expected: ModelOutput, what: string): void {
  const pairs: [string, number, number][] = [
    ['score', actual.score, expected.score],
    ['text', actual.contributions.text, expected.contributions.text],
    ['audio', actual.contributions.audio, expected.contributions.audio],
    ['video', actual.contributions.video, expected.contributions.video],
  ];
  for (const [name, a, e] of pairs) {
    assert.ok(Math.abs(a - e) <= TOLERANCE, `${what}: ${name} is ${a}, expected ${e}`);
  }
}

/** A pino logger whose lines land in an array. */
function capturingLogger() {
  const lines: { level: number; msg: string; err?: { message: string } }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const window = (text: number[], acoustic: number[], visual: number[]): ModelInput => ({
  inputIds: text,
  attentionMask: text.map(() => 1),
  acousticIds: acoustic,
  acousticMask: acoustic.map(() => 1),
  visualIds: visual,
  visualMask: visual.map(() => 1),
});

describe('ONNX model session (on the test graph)', () => {
  let graph: TestGraphFile;
  let session: ModelSession;

  before(async () => {
    graph = await writeTestGraph();
    session = await loadModel({ path: graph.path, executionProvider: 'cpu', intraOpThreads: 1, logger: silentLogger });
  });
  after(async () => {
    await session?.release();
    await graph?.cleanup();
  });

  it('loads and reports the contract, provider and what the graph is', () => {
    assert.equal(session.provider, 'cpu');
    assert.equal(session.requestedProvider, 'cpu');
    assert.deepStrictEqual([...session.inputNames].sort(), ['acoustic_ids', 'acoustic_mask', 'attention_mask', 'input_ids', 'visual_ids', 'visual_mask']);
    assert.deepStrictEqual([...session.outputNames], ['score', 'contributions']);
    assert.equal(session.kind, TEST_GRAPH_KIND);
    assert.deepStrictEqual(session.padIndex, DEFAULT_PAD_INDEX, 'pad index read from metadata_props');
    assert.equal(session.metadata.opsets[''], 17);
    assert.equal(session.metadata.producerName, 'msa-test-fixture');
  });

  it('runs and gives what the graph is meant to compute', async () => {
    const inputs = [window([101, 2000, 102], [3, 5], [16]), window([101, 102], [15, 15, 15], [0, 1])];
    inputs[0]!.visualMask = [0]; // absent face
    const outputs = await session.run(inputs);
    assert.equal(outputs.length, 2);
    outputs.forEach((o, i) => assertClose(o, referenceOutput(inputs[i]!), `row ${i}`));
    // hand-checked row 0: text mean 734.33, acoustic mean 4, visual absent (mean 0)
    assertClose(
      outputs[0]!,
      {
        score: Math.tanh(0.001 * (2203 / 3 - 1000)) + Math.tanh(0.25 * (4 - 8)) + Math.tanh(0.25 * -8),
        contributions: { text: Math.tanh(0.001 * (2203 / 3 - 1000)), audio: Math.tanh(-1), video: Math.tanh(-2) },
      },
      'row 0 by hand',
    );
    for (const o of outputs) assert.ok(o.score > -3 && o.score < 3);
  });

  it('gives each row of a batch what it gets alone (batch vs single parity)', async () => {
    const inputs = randomWindows(48, session.padIndex, 7);
    const batched = await session.run(inputs);
    const singles = await Promise.all(inputs.map(async (w) => (await session.run([w]))[0]!));
    batched.forEach((o, i) => {
      assertClose(o, singles[i]!, `row ${i} batched vs alone`);
      assertClose(o, referenceOutput(inputs[i]!, DEFAULT_WEIGHTS), `row ${i} vs reference`);
    });
  });

  it('is not changed by padding (explicit or from longer rows in the batch)', async () => {
    const w = window([101, 7592, 2088, 102], [1, 2, 3], [4, 5]);
    const [alone] = await session.run([w]);
    const padded: ModelInput = {
      inputIds: [...w.inputIds, 0, 0, 0],
      attentionMask: [...w.attentionMask, 0, 0, 0],
      acousticIds: [...w.acousticIds, 16, 16],
      acousticMask: [...w.acousticMask, 0, 0],
      visualIds: [...w.visualIds, 9, 9, 9, 9],
      visualMask: [...w.visualMask, 0, 0, 0, 0], // even a non-pad id, masked
    };
    const long = window(
      Array.from({ length: 100 }, (_, i) => i),
      Array.from({ length: 50 }, () => 7),
      Array.from({ length: 20 }, () => 1),
    );
    const [explicit] = await session.run([padded]);
    const [, inBatch] = await session.run([long, w, long]);
    assertClose(explicit!, alone!, 'explicitly padded');
    assertClose(inBatch!, alone!, 'padded to the longest row of the batch');
  });

  it('pads text with 0 and non-verbal ids with the pad index K, masks with 0', () => {
    const batch = padBatch([window([5], [1], [2]), window([5, 6, 7], [1, 2], [2, 3, 4])], { acoustic: 16, visual: 32 });
    assert.deepStrictEqual(batch.input_ids.dims, [2, 3]);
    assert.deepStrictEqual([...batch.input_ids.data], [5n, 0n, 0n, 5n, 6n, 7n]);
    assert.deepStrictEqual([...batch.attention_mask.data], [1n, 0n, 0n, 1n, 1n, 1n]);
    assert.deepStrictEqual([...batch.acoustic_ids.data], [1n, 16n, 1n, 2n]);
    assert.deepStrictEqual([...batch.acoustic_mask.data], [1n, 0n, 1n, 1n]);
    assert.deepStrictEqual([...batch.visual_ids.data], [2n, 32n, 32n, 2n, 3n, 4n]);
    assert.deepStrictEqual([...batch.visual_mask.data], [1n, 0n, 0n, 1n, 1n, 1n]);
    // int32 values take a fast path, others go through BigInt: both must be exact
    const wide = padBatch([window([-1, 2 ** 31 - 1, 2 ** 31, -(2 ** 40), Number.MAX_SAFE_INTEGER], [0], [0])], { acoustic: 16, visual: 16 });
    assert.deepStrictEqual([...wide.input_ids.data], [-1n, 2n ** 31n - 1n, 2n ** 31n, -(2n ** 40n), BigInt(Number.MAX_SAFE_INTEGER)]);
  });

  it('refuses malformed windows with the row and field at fault', async () => {
    const bad = window([1, 2], [3], [4]);
    bad.acousticMask = [1, 1];
    await assert.rejects(session.run([window([1], [1], [1]), bad]), /row 1: acoustic_ids has 1 entries but acoustic_mask has 2/);
    await assert.rejects(session.run([window([1.5], [1], [1])]), /row 0: input_ids\[0\] = 1.5 is not an integer/);
    await assert.rejects(session.run([window([], [1], [1])]), /row 0: input_ids is empty/);
    assert.deepStrictEqual(await session.run([]), []);
  });

  it('falls back to CPU, with one warning, when CUDA is asked for but cannot load', async () => {
    const { logger, lines } = capturingLogger();
    const cuda = await loadModel({ path: graph.path, executionProvider: 'cuda', logger });
    try {
      assert.equal(cuda.requestedProvider, 'cuda');
      assert.equal(cuda.provider, 'cpu');
      const warnings = lines.filter((l) => l.level === 40);
      assert.equal(warnings.length, 1, 'exactly one warning');
      assert.match(warnings[0]!.msg, /CUDA execution provider could not be loaded; running the model on CPU/);
      assert.ok(warnings[0]!.err?.message, 'the warning carries the error');
      assert.ok(lines.some((l) => l.level === 30 && /model loaded on cpu \(test-graph, not a sentiment model\)/.test(l.msg)));
      const [o] = await cuda.run([window([101, 102], [1], [1])]);
      assertClose(o!, referenceOutput(window([101, 102], [1], [1])), 'after fallback');
    } finally {
      await cuda.release();
    }
  });
});

describe('ONNX model contract checks', () => {
  it('refuses a graph whose input names differ, listing what the graph has', async () => {
    const g = await writeTestGraph({ renameInputs: { input_ids: 'text_ids', visual_mask: 'face_mask' } });
    try {
      await assert.rejects(loadModel({ path: g.path, executionProvider: 'cpu', logger: silentLogger }), (err: Error) => {
        assert.match(
          err.message,
          /the graph's inputs \[text_ids, attention_mask, acoustic_ids, acoustic_mask, visual_ids, face_mask\] do not match the model contract/,
        );
        assert.match(err.message, /missing: input_ids, visual_mask; unexpected: text_ids, face_mask/);
        return true;
      });
    } finally {
      await g.cleanup();
    }
  });

  it('takes the pad index from the option over the graph, and asks for one when neither has it', async () => {
    const g = await writeTestGraph({ padIndex: null });
    try {
      await assert.rejects(
        loadModel({ path: g.path, executionProvider: 'cpu', logger: silentLogger }),
        /no acoustic pad index\. Pass padIndex .* or export the graph with metadata_props msa\.acoustic_pad_index/,
      );
      const s = await loadModel({ path: g.path, executionProvider: 'cpu', padIndex: { acoustic: 64, visual: 32 }, logger: silentLogger });
      assert.deepStrictEqual(s.padIndex, { acoustic: 64, visual: 32 });
      await s.release();
    } finally {
      await g.cleanup();
    }
  });

  it('reads metadata from an ONNX file and refuses a file that is not one', async () => {
    const g = await writeTestGraph();
    try {
      const meta = await readOnnxMetadata(g.path);
      assert.equal(meta.irVersion, 8);
      assert.equal(meta.modelVersion, 1);
      assert.deepStrictEqual(meta.props, { 'msa.kind': TEST_GRAPH_KIND, 'msa.acoustic_pad_index': '16', 'msa.visual_pad_index': '16' });
      const junk = `${g.path}.junk`;
      await writeFile(junk, Buffer.from([0x0f, 0x01, 0x02]));
      await assert.rejects(readOnnxMetadata(junk), /not an ONNX model \(wire type 7 at byte 0\)/);
      await assert.rejects(
        loadModel({ path: `${g.path}.missing`, executionProvider: 'cpu', logger: silentLogger }),
        /model file not found: .*test-graph\.onnx\.missing/,
      );
    } finally {
      await g.cleanup();
    }
  });
});
