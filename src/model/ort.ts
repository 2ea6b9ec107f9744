import * as ort from 'onnxruntime-node';
import type { Logger } from '../log.js';
import type { WorkerPoolStats } from '../workers/pool.js';

/**
 * The ONNX Runtime adapter: the only module that imports onnxruntime-node.
 *
 * It creates sessions (with the CUDA-to-CPU fallback every model shares) and offers a small
 * generic graph API for the models whose tensors are plain arrays (Whisper, Silero VAD): named
 * float32 / int64 tensors in, named tensors out. The sentiment model's own contract sits on top
 * of it in ./onnxSession.ts.
 */
export { ort };

export type ExecutionProviderName = 'cpu' | 'cuda';

export interface SessionOptions {
  /** Asked-for provider; `cuda` falls back to `cpu` with one warning when it cannot load. */
  executionProvider: ExecutionProviderName;
  /** Threads for one operator (ONNX Runtime's intraOpNumThreads); its default is all cores. */
  intraOpThreads?: number;
  logger: Logger;
}

/** The onnxruntime-node version in use, for logs, metrics and benchmark records. */
export function onnxRuntimeVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}

/**
 * Creates a session from a file path (not a buffer: graphs with external data, such as Whisper's,
 * find it beside the file). Returns the provider actually used.
 */
export async function createSession(path: string, options: SessionOptions): Promise<{ session: ort.InferenceSession; provider: ExecutionProviderName }> {
  const { executionProvider, intraOpThreads, logger } = options;
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    ...(intraOpThreads !== undefined && intraOpThreads > 0 ? { intraOpNumThreads: intraOpThreads } : {}),
  };
  if (executionProvider === 'cuda') {
    try {
      return { session: await ort.InferenceSession.create(path, { ...sessionOptions, executionProviders: ['cuda'] }), provider: 'cuda' };
    } catch (err) {
      logger.warn({ err, path, requestedProvider: 'cuda', provider: 'cpu' }, 'CUDA execution provider could not be loaded; running the model on CPU instead');
    }
  }
  return { session: await ort.InferenceSession.create(path, { ...sessionOptions, executionProviders: ['cpu'] }), provider: 'cpu' };
}

/** A dense tensor of the generic graph API, row-major. */
export type GraphTensor = { type: 'float32'; data: Float32Array; dims: readonly number[] } | { type: 'int64'; data: BigInt64Array; dims: readonly number[] };

export interface GraphInputInfo {
  name: string;
  /** ONNX Runtime's element type name (`float32`, `int64`, ...). */
  type: string;
  /** Declared shape; symbolic dimensions are strings. */
  shape: readonly (number | string)[];
}

/** A loaded graph with plain-array inputs and outputs. */
export interface Graph {
  readonly path: string;
  readonly requestedProvider: ExecutionProviderName;
  /** The provider actually running the graph. */
  readonly provider: ExecutionProviderName;
  readonly inputs: readonly GraphInputInfo[];
  readonly outputNames: readonly string[];
  /**
   * Runs the graph; every output is returned (float32 or int64, else an error naming it), or only
   * the outputs named in `fetches`.
   */
  run(feeds: Readonly<Record<string, GraphTensor>>, fetches?: readonly string[]): Promise<Record<string, GraphTensor>>;
  /** The worker pool's counters when the graph runs in worker threads (./graphPool.ts); absent in this thread. */
  stats?(): WorkerPoolStats;
  release(): Promise<void>;
}

export interface LoadGraphOptions extends SessionOptions {
  path: string;
}

export async function loadGraph(options: LoadGraphOptions): Promise<Graph> {
  const { path, executionProvider } = options;
  const { session, provider } = await createSession(path, options).catch((err: Error) => {
    throw new Error(`cannot load ONNX graph ${path}: ${err.message}`, { cause: err });
  });
  const inputs = session.inputMetadata.map((m) =>
    m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: 'non-tensor', shape: [] },
  );
  return {
    path,
    requestedProvider: executionProvider,
    provider,
    inputs,
    outputNames: session.outputNames,
    async run(feeds, fetches) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const out = fetches ? await session.run(ortFeeds, [...fetches]) : await session.run(ortFeeds);
      const result: Record<string, GraphTensor> = {};
      for (const [name, value] of Object.entries(out)) {
        if (value.type === 'float32') result[name] = { type: 'float32', data: value.data as Float32Array, dims: value.dims };
        else if (value.type === 'int64') result[name] = { type: 'int64', data: value.data as BigInt64Array, dims: value.dims };
        else throw new Error(`${path}: output ${name} is ${value.type}; the generic graph API handles float32 and int64`);
      }
      return result;
    },
    release: () => session.release(),
  };
}
