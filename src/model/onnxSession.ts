import type { Logger } from '../log.js';
import { padBatch, splitOutputs, type PadIndex, type PaddedBatch } from './batchTensors.js';
import { readOnnxMetadata, type OnnxModelMetadata } from './onnxMetadata.js';
import { createSession, ort, type ExecutionProviderName } from './ort.js';
import { MODEL_INPUT_NAMES, MODEL_OUTPUT_NAMES, type ModelInput, type ModelOutput } from './types.js';

export { onnxRuntimeVersion, type ExecutionProviderName } from './ort.js';

/**
 * The sentiment model's session, on the ONNX Runtime adapter (./ort.ts, the only module that
 * imports onnxruntime-node).
 *
 * It loads the exported graph, checks it honours the contract of ./types.ts, and turns a batch
 * of windows into int64 tensors and the outputs back into one result per window.
 */

export interface LoadModelOptions {
  path: string;
  /** Asked-for provider; `cuda` falls back to `cpu` with one warning when it cannot load. */
  executionProvider: ExecutionProviderName;
  /** Threads for one operator (ONNX Runtime's intraOpNumThreads); its default is all cores. */
  intraOpThreads?: number;
  /**
   * Pad index K of each codebook (from the model manifest). When absent, taken from the graph's
   * metadata_props `msa.acoustic_pad_index` / `msa.visual_pad_index`.
   */
  padIndex?: PadIndex;
  logger: Logger;
}

/** ModelProto.metadata_props keys the pipeline reads. */
export const MODEL_METADATA_KEYS = {
  /** What the graph is, when it is not the sentiment model (the test graph says so). */
  kind: 'msa.kind',
  acousticPadIndex: 'msa.acoustic_pad_index',
  visualPadIndex: 'msa.visual_pad_index',
} as const;

/** A batch already padded and packed into ONNX Runtime tensors; made by `ModelSession.prepare`. */
export interface PreparedBatch {
  readonly size: number;
}

/** The model's outputs for a whole batch, as ONNX Runtime returned them. */
export interface RawModelOutputs {
  score: Float32Array | Float64Array; // [B]
  contributions: Float32Array | Float64Array; // [B, 3], row-major
}

export interface ModelSession {
  readonly path: string;
  readonly requestedProvider: ExecutionProviderName;
  /** The provider actually running the graph. */
  readonly provider: ExecutionProviderName;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly metadata: OnnxModelMetadata;
  /** metadata_props `msa.kind`, e.g. 'test-graph, not a sentiment model'; undefined for a real model. */
  readonly kind: string | undefined;
  readonly padIndex: PadIndex;
  /** Scores a batch of windows; result i belongs to input i. */
  run(inputs: readonly ModelInput[]): Promise<ModelOutput[]>;
  /** Pads and packs a batch once, for callers (the benchmark) that time the runtime alone. */
  prepare(inputs: readonly ModelInput[]): PreparedBatch;
  /** Runs the graph on prepared tensors, nothing else. */
  runPrepared(batch: PreparedBatch): Promise<RawModelOutputs>;
  release(): Promise<void>;
}

class OrtBatch implements PreparedBatch {
  constructor(
    readonly size: number,
    readonly feeds: Record<string, ort.Tensor>,
  ) {}
}

export async function loadModel(options: LoadModelOptions): Promise<ModelSession> {
  const { path, executionProvider, intraOpThreads, logger } = options;
  const log = logger.child({ module: 'model', path });
  const metadata = await readOnnxMetadata(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new Error(`model file not found: ${path}; check the model path (models/*.onnx)`, { cause: err });
    throw err;
  });
  const padIndex = resolvePadIndex(options.padIndex, metadata, path);
  const { session, provider } = await createSession(path, { executionProvider, intraOpThreads, logger: log });

  try {
    checkContract(session, path);
  } catch (err) {
    await session.release();
    throw err;
  }

  const kind = metadata.props[MODEL_METADATA_KEYS.kind];
  log.info(
    {
      requestedProvider: executionProvider,
      provider,
      intraOpThreads,
      padIndex,
      kind,
      producer: `${metadata.producerName} ${metadata.producerVersion}`.trim(),
      modelVersion: metadata.modelVersion,
      inputs: session.inputNames,
      outputs: session.outputNames,
    },
    kind ? `model loaded on ${provider} (${kind})` : `model loaded on ${provider}`,
  );

  const prepare = (inputs: readonly ModelInput[]): OrtBatch => {
    const padded: PaddedBatch = padBatch(inputs, padIndex);
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of MODEL_INPUT_NAMES) feeds[name] = new ort.Tensor('int64', padded[name].data, padded[name].dims);
    return new OrtBatch(inputs.length, feeds);
  };

  const runPrepared = async (batch: PreparedBatch): Promise<RawModelOutputs> => {
    if (!(batch instanceof OrtBatch)) throw new TypeError("runPrepared: the batch was not made by this module's prepare()");
    const out = await session.run(batch.feeds);
    return { score: floatData(out, 'score', path), contributions: floatData(out, 'contributions', path) };
  };

  return {
    path,
    requestedProvider: executionProvider,
    provider,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    metadata,
    kind,
    padIndex,
    prepare,
    runPrepared,
    async run(inputs) {
      if (inputs.length === 0) return [];
      const raw = await runPrepared(prepare(inputs));
      return splitOutputs(raw.score, raw.contributions, inputs.length);
    },
    release: () => session.release(),
  };
}

function resolvePadIndex(given: PadIndex | undefined, metadata: OnnxModelMetadata, path: string): PadIndex {
  const fromGraph = (key: string): number | undefined => {
    const raw = metadata.props[key];
    return raw === undefined ? undefined : Number(raw);
  };
  const padIndex = given ?? {
    acoustic: fromGraph(MODEL_METADATA_KEYS.acousticPadIndex),
    visual: fromGraph(MODEL_METADATA_KEYS.visualPadIndex),
  };
  for (const modality of ['acoustic', 'visual'] as const) {
    const k = padIndex[modality];
    if (k === undefined) {
      throw new Error(
        `${path}: no ${modality} pad index. Pass padIndex (each codebook's size K, from the model manifest) ` +
          `or export the graph with metadata_props ${MODEL_METADATA_KEYS.acousticPadIndex} and ${MODEL_METADATA_KEYS.visualPadIndex}`,
      );
    }
    if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`${path}: ${modality} pad index ${String(k)} is not a non-negative integer`);
  }
  return padIndex as PadIndex;
}

/** The graph must declare exactly the contract's int64 inputs and at least its outputs. */
function checkContract(session: ort.InferenceSession, path: string): void {
  const expected: readonly string[] = MODEL_INPUT_NAMES;
  const has = session.inputNames;
  const missing = expected.filter((n) => !has.includes(n));
  const unexpected = has.filter((n) => !expected.includes(n));
  if (missing.length > 0 || unexpected.length > 0) {
    throw new Error(
      `${path}: the graph's inputs [${has.join(', ')}] do not match the model contract [${expected.join(', ')}]` +
        (missing.length > 0 ? `; missing: ${missing.join(', ')}` : '') +
        (unexpected.length > 0 ? `; unexpected: ${unexpected.join(', ')}` : '') +
        '. Re-export the model with the input names of src/model/types.ts',
    );
  }
  const notInt64 = session.inputMetadata.filter((m) => m.isTensor && m.type !== 'int64');
  if (notInt64.length > 0) {
    throw new Error(`${path}: inputs must be int64, but ${notInt64.map((m) => `${m.name} is ${m.isTensor ? m.type : 'not a tensor'}`).join(', ')}`);
  }
  const missingOut = MODEL_OUTPUT_NAMES.filter((n) => !session.outputNames.includes(n));
  if (missingOut.length > 0) {
    throw new Error(
      `${path}: the graph's outputs [${session.outputNames.join(', ')}] lack ${missingOut.join(', ')}; ` +
        `the model contract needs score [B] and contributions [B, 3]`,
    );
  }
}

function floatData(out: ort.InferenceSession.ReturnType, name: string, path: string): Float32Array | Float64Array {
  const value = out[name];
  if (!value || !(value instanceof ort.Tensor)) throw new Error(`${path}: the run returned no tensor ${name}`);
  if (value.type !== 'float32' && value.type !== 'float64') {
    throw new Error(`${path}: output ${name} is ${value.type}; the model contract needs float32`);
  }
  return value.data as Float32Array | Float64Array;
}
