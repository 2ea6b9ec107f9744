/**
 * The sentiment model in worker threads: `workers` threads, each with its own ONNX Runtime session
 * of `threadsPerWorker` intra-op threads (./inferenceWorker.ts). onnxruntime-node's `session.run`
 * runs synchronously on the thread that calls it; in a worker it no longer blocks the event loop
 * that reads Kafka, answers /healthz and fans scores out.
 *
 * The threads are a worker pool (src/workers/pool.ts), which the face analyzer uses too.
 *
 * - A batch goes to an idle worker, or waits (in order) for one. Results are those of the same
 *   session in the main thread: same graph, same padding (test/unit/inferencePool.test.ts). With
 *   `perRow`, a batch is split into one part per worker (its rows do not depend on each other).
 * - A worker that dies while it holds a batch (a native crash, an out-of-memory kill, terminate)
 *   is replaced, and its batch is run once more on the next free worker. A batch whose second run
 *   dies too is rejected with an `InferenceCrashError`: the scoring path dead-letters its windows
 *   (PROCESSING_FAILED) and settles them, so nothing is lost and the pipeline goes on.
 * - An error the run itself throws (ONNX Runtime refusing an input) is rejected as it is, as the
 *   in-thread session would: the pipeline fails and its records are read again on restart.
 * - A replacement that cannot load the model `MAX_LOAD_FAILURES` times in a row breaks the pool:
 *   every waiting and later batch is rejected with the load error.
 */
import type { Logger } from '../log.js';
import { MAX_LOAD_FAILURES, startWorkerPool, type WorkerPoolStats } from '../workers/pool.js';
import type { PadIndex } from './batchTensors.js';
import type { InferenceReady, InferenceWorkerData } from './inferenceProtocol.js';
import type { ExecutionProviderName } from './ort.js';
import type { ModelInput, ModelOutput } from './types.js';

/** What the pipeline needs of a model, in this thread or in worker threads. */
export interface ModelRunner {
  readonly path: string;
  readonly requestedProvider: ExecutionProviderName;
  /** The provider actually running the graph. */
  readonly provider: ExecutionProviderName;
  /** metadata_props `msa.kind` of the graph; undefined for a real model. */
  readonly kind: string | undefined;
  /** Scores a batch of windows; result i belongs to input i. */
  run(inputs: readonly ModelInput[]): Promise<ModelOutput[]>;
  /** The worker pool's counters (crashes, retries, queue); absent when the graph runs in this thread. */
  stats?(): WorkerPoolStats;
  release(): Promise<void>;
}

export interface InferencePoolOptions {
  path: string;
  executionProvider: ExecutionProviderName;
  /** Worker threads, each with one session (>= 1). */
  workers: number;
  /** ONNX Runtime intra-op threads of each worker's session; 0 = ONNX Runtime's default (all cores). */
  threadsPerWorker: number;
  padIndex?: PadIndex;
  /** Run each batch's rows one at a time in the worker (no padding, no batch-neighbour dependence). */
  perRow?: boolean;
  logger: Logger;
  /** Each batch handed to a worker and each worker lost (logs, metrics, tests). */
  onEvent?: (event: InferencePoolEvent) => void;
}

export type InferencePoolEvent =
  { type: 'dispatch'; worker: number; batch: number; attempt: number; size: number } | { type: 'crash'; worker: number; batch: number | null; reason: string };

/** The worker pool's counters; a job is a batch here (retried: batches run again after their worker died). */
export type InferencePoolStats = WorkerPoolStats;

export interface InferencePool extends ModelRunner {
  stats(): InferencePoolStats;
  /** Ends worker `index` as a crash would (its batch is retried): for tests and fault drills. */
  terminateWorker(index: number): Promise<void>;
}

/** A batch whose worker died twice: not the model's answer, so its windows are dead-lettered. */
export class InferenceCrashError extends Error {
  override readonly name = 'InferenceCrashError';
}

export { MAX_LOAD_FAILURES };

export async function startInferencePool(options: InferencePoolOptions): Promise<InferencePool> {
  const { path, executionProvider, workers, threadsPerWorker, logger, onEvent } = options;
  if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError(`inference pool: workers must be a positive integer, got ${workers}`);
  if (!Number.isSafeInteger(threadsPerWorker) || threadsPerWorker < 0) {
    throw new RangeError(`inference pool: threadsPerWorker must be an integer >= 0, got ${threadsPerWorker}`);
  }
  const data: InferenceWorkerData = { path, executionProvider, threads: threadsPerWorker, padIndex: options.padIndex, perRow: options.perRow ?? false };
  const pool = await startWorkerPool<InferenceWorkerData, InferenceReady, ModelInput[], ModelOutput[]>({
    here: import.meta.url,
    file: 'inferenceWorker',
    data,
    workers,
    name: 'inference',
    loads: `the model ${path}`,
    crashError: (message) => new InferenceCrashError(message),
    jobError: (worker, message) => new Error(`model run failed (inference worker ${worker}): ${message}`),
    logger: logger.child({ path }),
    onEvent: onEvent
      ? (e) =>
          onEvent(
            e.type === 'dispatch'
              ? { type: 'dispatch', worker: e.worker, batch: e.job, attempt: e.attempt, size: e.request.length }
              : { type: 'crash', worker: e.worker, batch: e.job, reason: e.reason },
          )
      : undefined,
  });
  const { provider } = pool.ready;
  logger
    .child({ module: 'inference-pool', path })
    .info({ workers, threadsPerWorker, provider, perRow: data.perRow }, `model loaded in ${workers} worker thread(s) on ${provider}`);

  return {
    path,
    requestedProvider: executionProvider,
    get provider() {
      return pool.ready.provider;
    },
    get kind() {
      return pool.ready.kind;
    },
    async run(inputs) {
      if (inputs.length === 0) return [];
      if (!data.perRow || workers === 1 || inputs.length === 1) return pool.run([...inputs]);
      // Row by row, a batch's rows need not wait for each other: one part per worker, so a batch
      // is done in about 1/workers of the time when the others are free (the same results).
      const size = Math.ceil(inputs.length / workers);
      const parts: Promise<ModelOutput[]>[] = [];
      for (let from = 0; from < inputs.length; from += size) parts.push(pool.run(inputs.slice(from, from + size)));
      return (await Promise.all(parts)).flat();
    },
    stats: () => pool.stats(),
    terminateWorker: (index) => pool.terminateWorker(index),
    release: () => pool.release(),
  };
}
