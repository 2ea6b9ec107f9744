/**
 * The face analyzer in worker threads (`features.faceWorkers`): a `FaceSource` whose frames are
 * analysed by FaceAnalyzers in `workers` threads (./faceWorker.ts) on the shared worker pool
 * (src/workers/pool.ts). The face model (tfjs WASM, about 25-60 ms a 320x240 frame) then no
 * longer runs on the event loop that reads Kafka, answers /healthz and fans scores out.
 *
 * - Same vectors as the analyzer in this thread: the same code runs on the same pixels
 *   (test/unit/facePool.test.ts).
 * - A frame the caller owns (`owned`: decoded for the analysis, nobody else reads it) has its
 *   buffer moved to the worker, not copied; a view of a record's payload is copied.
 * - At most `maxQueued` frames wait for a worker; more are rejected at once (`WorkerPoolFullError`).
 * - A worker that dies under a frame is replaced; the frame is rejected with a `FaceCrashError`
 *   (or run once more, when its pixels were copied). The feature stage counts a rejected frame in
 *   `features.video.failed` and lets it pass without a face vector, as any failed analysis.
 * - Workers that cannot load the face models fail the start, naming why.
 */
import type { TransferListItem } from 'node:worker_threads';
import type { Logger } from '../../log.js';
import { startWorkerPool, type WorkerPoolEvent, type WorkerPoolStats } from '../../workers/pool.js';
import type { FaceObservation, RgbFrame } from './face.js';
import type { FaceSource } from './faceVectors.js';

export interface FaceWorkerData {
  /** The face detector's graph model JSON (`detectorModelFor`). */
  detectorModel: string;
}

export interface FacePoolOptions extends FaceWorkerData {
  /** Worker threads, each with its own FaceAnalyzer (>= 1). */
  workers: number;
  /** Frames waiting for a worker beyond which a frame is rejected (default 64). */
  maxQueued?: number;
  logger: Logger;
  onEvent?: (event: WorkerPoolEvent<RgbFrame>) => void;
}

export interface FacePool extends FaceSource {
  stats(): WorkerPoolStats;
  /** Ends worker `index` as a crash would: for tests and fault drills. */
  terminateWorker(index: number): Promise<void>;
  release(): Promise<void>;
}

/** A frame whose face worker died under it: it passes without a face vector (counted as failed). */
export class FaceCrashError extends Error {
  override readonly name = 'FaceCrashError';
}

/** A view that is the whole of its ArrayBuffer can be moved; part of a bigger buffer (a Kafka message) cannot. */
function transferable(data: Uint8Array): TransferListItem[] | undefined {
  const buffer = data.buffer;
  return buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buffer.byteLength ? [buffer] : undefined;
}

export async function startFacePool(options: FacePoolOptions): Promise<FacePool> {
  const { workers, detectorModel, logger } = options;
  const pool = await startWorkerPool<FaceWorkerData, null, RgbFrame, FaceObservation | null>({
    here: import.meta.url,
    file: 'faceWorker',
    data: { detectorModel },
    workers,
    name: 'face',
    loads: `the face analyzer (detector ${detectorModel})`,
    maxQueued: options.maxQueued ?? 64,
    crashError: (message) => new FaceCrashError(message),
    logger,
    onEvent: options.onEvent,
  });
  logger.child({ module: 'face-pool' }).info({ workers, detectorModel }, `face analyzer loaded in ${workers} worker thread(s)`);
  return {
    analyze(frame: RgbFrame, opts?: { owned?: boolean }) {
      const { width, height, data } = frame;
      if (data.length !== width * height * 3) return Promise.reject(new RangeError(`frame data has ${data.length} bytes, expected ${width}x${height}x3`));
      return pool.run({ width, height, data }, opts?.owned ? transferable(data) : undefined);
    },
    stats: () => pool.stats(),
    terminateWorker: (index) => pool.terminateWorker(index),
    release: () => pool.release(),
  };
}
