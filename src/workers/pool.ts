/**
 * A pool of worker threads that each load something heavy once (the sentiment model, the face
 * analyzer) and run jobs on it off the event loop. The model (src/model/inferencePool.ts) and the
 * face analyzer (src/features/visual/facePool.ts) both run on it.
 *
 * - A job goes to an idle worker, or waits (in order) for one; at most `maxQueued` wait, a job
 *   beyond that is rejected at once with a `WorkerPoolFullError` (the caller counts it).
 * - A worker that dies while it holds a job (a native crash, an out-of-memory kill, terminate) is
 *   replaced, and its job is run once more on the next free worker. A job whose second run dies
 *   too, or whose buffers were transferred (they went with the dead worker), is rejected with the
 *   error `crashError` makes (the caller routes it like any failure).
 * - An error the job itself throws is rejected as it is, naming the worker.
 * - A replacement that cannot load `MAX_LOAD_FAILURES` times in a row breaks the pool: every
 *   waiting and later job is rejected with the load error. At start, one that cannot load fails
 *   the start.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { JobRequest, WorkerReply } from './protocol.js';

export interface WorkerPoolOptions<Data, Req = unknown> {
  /** `import.meta.url` of the module beside the worker file: .ts under tsx, .js compiled. */
  here: string;
  /** The worker module's file name without extension (it calls `serveWorker`, ./serve.ts). */
  file: string;
  /** What each worker gets as `workerData` (structured clone). */
  data: Data;
  /** Worker threads (>= 1). */
  workers: number;
  /** Names the threads (`msa-<name>-<i>`), the log module and the errors. */
  name: string;
  /** What a worker loads, for the errors: `the model /path`, `the face analyzer`. */
  loads: string;
  /** Jobs waiting for a worker beyond which `run` rejects at once (default: unbounded). */
  maxQueued?: number;
  /** The error of a job whose worker died under it twice. */
  crashError?: (message: string) => Error;
  /** The error of a job that threw in its worker (default: `<name> worker <i>: <message>`). */
  jobError?: (worker: number, message: string) => Error;
  logger: Logger;
  onEvent?: (event: WorkerPoolEvent<Req>) => void;
}

export type WorkerPoolEvent<Req = unknown> =
  { type: 'dispatch'; worker: number; job: number; attempt: number; request: Req } | { type: 'crash'; worker: number; job: number | null; reason: string };

export interface WorkerPoolStats {
  workers: number;
  busy: number;
  queued: number;
  /** Workers that died and were replaced. */
  crashes: number;
  /** Jobs run again after their worker died. */
  retried: number;
  /** Jobs rejected after their second worker died too. */
  failed: number;
}

export interface WorkerPool<Ready, Req, Res> {
  /** What the last worker to load said in its `ready`. */
  readonly ready: Ready;
  /** Runs a job; `transfer`: buffers of the request to move to the worker instead of copying. */
  run(request: Req, transfer?: TransferListItem[]): Promise<Res>;
  stats(): WorkerPoolStats;
  /** Ends worker `index` as a crash would (its job is retried): for tests and fault drills. */
  terminateWorker(index: number): Promise<void>;
  release(): Promise<void>;
}

/** The pool is full: the job was not run. */
export class WorkerPoolFullError extends Error {
  override readonly name = 'WorkerPoolFullError';
}

/** Replacement workers failing to load in a row before the pool gives up. */
export const MAX_LOAD_FAILURES = 3;

interface Job<Req, Res> {
  id: number;
  request: Req;
  transfer: TransferListItem[] | undefined;
  attempt: number;
  resolve: (result: Res) => void;
  reject: (err: Error) => void;
}

interface Slot<Req, Res> {
  index: number;
  worker: Worker | null;
  ready: boolean;
  job: Job<Req, Res> | null;
  /** Why the worker said it could not load, or the error it died of. */
  lastError: string | null;
}

/**
 * Starts the worker module beside `here`: the compiled .js, or, run from source under tsx, the
 * .ts through tsx's loader (Node 20 does not run the parent's `--import tsx` in worker threads).
 */
function newWorker(here: string, file: string, data: unknown, name: string): Worker {
  if (!here.endsWith('.ts')) return new Worker(new URL(`./${file}.js`, here), { workerData: data, name });
  const source = JSON.stringify(new URL(`./${file}.ts`, here).href);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${source}); })`;
  return new Worker(boot, { eval: true, workerData: data, name });
}

export async function startWorkerPool<Data, Ready, Req, Res>(options: WorkerPoolOptions<Data, Req>): Promise<WorkerPool<Ready, Req, Res>> {
  const { workers, name, loads, onEvent } = options;
  if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError(`${name} pool: workers must be a positive integer, got ${workers}`);
  const maxQueued = options.maxQueued ?? Infinity;
  if (!(maxQueued >= 1)) throw new RangeError(`${name} pool: maxQueued must be >= 1, got ${maxQueued}`);
  const crashError = options.crashError ?? ((message: string) => new Error(message));
  const jobError = options.jobError ?? ((worker: number, message: string) => new Error(`${name} worker ${worker}: ${message}`));
  const log = options.logger.child({ module: `${name}-pool` });
  const slots: Slot<Req, Res>[] = Array.from({ length: workers }, (_, index) => ({ index, worker: null, ready: false, job: null, lastError: null }));
  const queue: Job<Req, Res>[] = [];
  const stats = { crashes: 0, retried: 0, failed: 0 };
  let nextId = 0;
  let closed = false;
  let broken: Error | null = null;
  let loadFailures = 0;
  let ready: Ready | undefined;
  let startup: { resolve: () => void; reject: (err: Error) => void; waiting: number } | null = null;

  const pump = () => {
    for (const slot of slots) {
      if (queue.length === 0) return;
      if (!slot.ready || slot.job || !slot.worker) continue;
      const job = queue.shift()!;
      slot.job = job;
      onEvent?.({ type: 'dispatch', worker: slot.index, job: job.id, attempt: job.attempt, request: job.request });
      const message: JobRequest<Req> = { id: job.id, request: job.request };
      slot.worker.postMessage(message, job.transfer);
    }
  };

  const breakPool = (err: Error) => {
    broken = err;
    log.error({ err }, `${name} pool broken: no worker can load ${loads}`);
    for (const job of queue.splice(0)) job.reject(err);
  };

  const spawn = (slot: Slot<Req, Res>) => {
    const worker = newWorker(options.here, options.file, options.data, `msa-${name}-${slot.index}`);
    slot.worker = worker;
    slot.ready = false;
    worker.on('message', (m: WorkerReply<Ready, Res>) => {
      if (slot.worker !== worker) return;
      switch (m.type) {
        case 'ready':
          slot.ready = true;
          loadFailures = 0;
          ready = m.info;
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
          if (m.type === 'result') job.resolve(m.result);
          else job.reject(jobError(slot.index, m.message));
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
        // It never loaded: at start, the pool does not start; later, retry a few times.
        const err = new Error(`${name} worker ${slot.index} could not load ${loads}: ${reason}`);
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
      onEvent?.({ type: 'crash', worker: slot.index, job: job?.id ?? null, reason });
      if (job) {
        job.attempt++;
        // A job whose buffers were moved to the dead worker cannot be sent again: it fails at once.
        if (job.attempt < 2 && !job.transfer?.length) {
          stats.retried++;
          queue.unshift(job); // first in line: it is the oldest
        } else {
          stats.failed++;
          job.reject(crashError(`${name} worker ${slot.index} died running job ${job.id}${job.attempt < 2 ? '' : ' twice'}: ${reason}`));
        }
      }
      log.error({ worker: slot.index, job: job?.id, attempt: job?.attempt, reason }, `${name} worker died; starting a new one`);
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

  return {
    get ready() {
      return ready!;
    },
    run(request, transfer) {
      if (closed) return Promise.reject(new Error(`${name} pool: released`));
      if (broken) return Promise.reject(broken);
      if (queue.length >= maxQueued) return Promise.reject(new WorkerPoolFullError(`${name} pool: ${queue.length} jobs already wait (maxQueued ${maxQueued})`));
      return new Promise<Res>((resolve, reject) => {
        queue.push({ id: nextId++, request, transfer, attempt: 0, resolve, reject });
        pump();
      });
    },
    stats: () => ({ workers, busy: slots.filter((s) => s.job !== null).length, queued: queue.length, ...stats }),
    async terminateWorker(index) {
      const worker = slots[index]?.worker;
      if (!worker) throw new RangeError(`${name} pool: no running worker ${index}`);
      await worker.terminate();
    },
    async release() {
      if (closed) return;
      closed = true;
      const err = new Error(`${name} pool: released`);
      for (const job of queue.splice(0)) job.reject(err);
      for (const slot of slots) slot.job?.reject(err);
      await Promise.all(slots.map((s) => s.worker?.terminate()));
    },
  };
}
