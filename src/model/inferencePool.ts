/**
 * The sentiment model in worker threads: `workers` threads, each with its own ONNX Runtime session
 * of `threadsPerWorker` intra-op threads (./inferenceWorker.ts). onnxruntime-node's `session.run`
 * runs synchronously on the thread that calls it; in a worker it no longer blocks the event loop
 * that reads Kafka, answers /healthz and fans scores out.
 *
 * - A batch goes to an idle worker, or waits (in order) for one. Results are those of the same
 *   session in the main thread: same graph, same padding (test/unit/inferencePool.test.ts).
 * - A worker that dies while it holds a batch (a native crash, an out-of-memory kill, terminate)
 *   is replaced, and its batch is run once more on the next free worker. A batch whose second run
 *   dies too is rejected with an `InferenceCrashError`: the scoring path dead-letters its windows
 *   (PROCESSING_FAILED) and settles them, so nothing is lost and the pipeline goes on.
 * - An error the run itself throws (ONNX Runtime refusing an input) is rejected as it is, as the
 *   in-thread session would: the pipeline fails and its records are read again on restart.
 * - A replacement that cannot load the model `MAX_LOAD_FAILURES` times in a row breaks the pool:
 *   every waiting and later batch is rejected with the load error.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { PadIndex } from './batchTensors.js';
import type { InferenceWorkerData, WorkerReply, WorkerRequest } from './inferenceProtocol.js';
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

export interface InferencePoolStats {
  workers: number;
  busy: number;
  queued: number;
  /** Workers that died and were replaced. */
  crashes: number;
  /** Batches run again after their worker died. */
  retried: number;
  /** Batches rejected after their second worker died too. */
  failed: number;
}

export interface InferencePool extends ModelRunner {
  stats(): InferencePoolStats;
  /** Ends worker `index` as a crash would (its batch is retried): for tests and fault drills. */
  terminateWorker(index: number): Promise<void>;
}

/** A batch whose worker died twice: not the model's answer, so its windows are dead-lettered. */
export class InferenceCrashError extends Error {
  override readonly name = 'InferenceCrashError';
}

/** Replacement workers failing to load the model in a row before the pool gives up. */
export const MAX_LOAD_FAILURES = 3;

interface Job {
  id: number;
  inputs: ModelInput[];
  attempt: number;
  resolve: (outputs: ModelOutput[]) => void;
  reject: (err: Error) => void;
}

interface Slot {
  index: number;
  worker: Worker | null;
  ready: boolean;
  job: Job | null;
  /** Why the worker said it could not load the model, or the error it died of. */
  lastError: string | null;
}

/**
 * Starts the worker module beside this one: the compiled .js, or, run from source under tsx, the
 * .ts through tsx's loader (Node 20 does not run the parent's `--import tsx` in worker threads).
 */
function newWorker(data: InferenceWorkerData, name: string): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./inferenceWorker.js', here), { workerData: data, name });
  const source = JSON.stringify(new URL('./inferenceWorker.ts', here).href);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${source}); })`;
  return new Worker(boot, { eval: true, workerData: data, name });
}

export async function startInferencePool(options: InferencePoolOptions): Promise<InferencePool> {
  const { path, executionProvider, workers, threadsPerWorker, logger, onEvent } = options;
  if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError(`inference pool: workers must be a positive integer, got ${workers}`);
  if (!Number.isSafeInteger(threadsPerWorker) || threadsPerWorker < 0) {
    throw new RangeError(`inference pool: threadsPerWorker must be an integer >= 0, got ${threadsPerWorker}`);
  }
  const log = logger.child({ module: 'inference-pool', path });
  const data: InferenceWorkerData = { path, executionProvider, threads: threadsPerWorker, padIndex: options.padIndex, perRow: options.perRow ?? false };
  const slots: Slot[] = Array.from({ length: workers }, (_, index) => ({ index, worker: null, ready: false, job: null, lastError: null }));
  const queue: Job[] = [];
  const stats = { crashes: 0, retried: 0, failed: 0 };
  let nextId = 0;
  let closed = false;
  let broken: Error | null = null;
  let loadFailures = 0;
  let provider: ExecutionProviderName = executionProvider;
  let kind: string | undefined;
  let started = false;
  let startup: { resolve: () => void; reject: (err: Error) => void; waiting: number } | null = null;

  const pump = () => {
    for (const slot of slots) {
      if (queue.length === 0) return;
      if (!slot.ready || slot.job || !slot.worker) continue;
      const job = queue.shift()!;
      slot.job = job;
      onEvent?.({ type: 'dispatch', worker: slot.index, batch: job.id, attempt: job.attempt, size: job.inputs.length });
      const request: WorkerRequest = { id: job.id, inputs: job.inputs };
      slot.worker.postMessage(request);
    }
  };

  const breakPool = (err: Error) => {
    broken = err;
    log.error({ err }, 'inference pool broken: no worker can load the model');
    for (const job of queue.splice(0)) job.reject(err);
  };

  const spawn = (slot: Slot) => {
    const worker = newWorker(data, `msa-inference-${slot.index}`);
    slot.worker = worker;
    slot.ready = false;
    worker.on('message', (m: WorkerReply) => {
      if (slot.worker !== worker) return;
      switch (m.type) {
        case 'ready':
          slot.ready = true;
          loadFailures = 0;
          provider = m.provider;
          kind = m.kind;
          if (startup && --startup.waiting === 0) startup.resolve();
          pump();
          break;
        case 'failed':
          slot.lastError = m.message;
          break;
        case 'result':
        case 'error': {
          const job = slot.job;
          if (!job || job.id !== m.id) return;
          slot.job = null;
          if (m.type === 'result') job.resolve(m.outputs);
          else job.reject(new Error(`model run failed (inference worker ${slot.index}): ${m.message}`));
          pump();
          break;
        }
      }
    });
    worker.on('error', (err) => {
      if (slot.worker === worker) slot.lastError = err.message;
    });
    worker.on('exit', (code) => {
      if (slot.worker !== worker || closed) return;
      const wasReady = slot.ready;
      slot.worker = null;
      slot.ready = false;
      const job = slot.job;
      slot.job = null;
      const reason = slot.lastError ?? `exit code ${code}`;
      slot.lastError = null;
      if (!wasReady) {
        // It never loaded the model: at start, the pool does not start; later, retry a few times.
        const err = new Error(`inference worker ${slot.index} could not load the model ${path}: ${reason}`);
        if (startup) {
          startup.reject(err);
          return;
        }
        if (++loadFailures >= MAX_LOAD_FAILURES) {
          breakPool(err);
          if (job) job.reject(err);
          return;
        }
      }
      stats.crashes++;
      onEvent?.({ type: 'crash', worker: slot.index, batch: job?.id ?? null, reason });
      if (job) {
        job.attempt++;
        if (job.attempt < 2) {
          stats.retried++;
          queue.unshift(job); // first in line: its windows are the oldest
        } else {
          stats.failed++;
          job.reject(new InferenceCrashError(`inference worker ${slot.index} died running batch ${job.id} (${job.inputs.length} windows) twice: ${reason}`));
        }
      }
      log.error({ worker: slot.index, batch: job?.id, attempt: job?.attempt, reason }, 'inference worker died; starting a new one');
      spawn(slot);
    });
  };

  await new Promise<void>((resolve, reject) => {
    startup = { resolve, reject, waiting: workers };
    for (const slot of slots) spawn(slot);
  }).catch(async (err: unknown) => {
    closed = true;
    await Promise.all(slots.map((s) => s.worker?.terminate()));
    throw err;
  });
  startup = null;
  started = true;
  log.info({ workers, threadsPerWorker, provider, perRow: data.perRow }, `model loaded in ${workers} worker thread(s) on ${provider}`);

  return {
    path,
    requestedProvider: executionProvider,
    get provider() {
      return provider;
    },
    get kind() {
      return kind;
    },
    run(inputs) {
      if (closed || !started) return Promise.reject(new Error('inference pool: released'));
      if (broken) return Promise.reject(broken);
      if (inputs.length === 0) return Promise.resolve([]);
      return new Promise<ModelOutput[]>((resolve, reject) => {
        queue.push({ id: nextId++, inputs: [...inputs], attempt: 0, resolve, reject });
        pump();
      });
    },
    stats: () => ({ workers, busy: slots.filter((s) => s.job !== null).length, queued: queue.length, ...stats }),
    async terminateWorker(index) {
      const worker = slots[index]?.worker;
      if (!worker) throw new RangeError(`inference pool: no running worker ${index}`);
      await worker.terminate();
    },
    async release() {
      if (closed) return;
      closed = true;
      const err = new Error('inference pool: released');
      for (const job of queue.splice(0)) job.reject(err);
      for (const slot of slots) slot.job?.reject(err);
      await Promise.all(slots.map((s) => s.worker?.terminate()));
    },
  };
}
