/**
 * Voice DSP in worker threads (`features.voiceWorkers`): the acoustic frames of each audio chunk
 * computed by AcousticFrameStreams in worker threads (./frameWorker.ts) instead of on the event
 * loop, with the same numbers (test/unit/framePool.test.ts).
 *
 * - A session's stream state (its samples in flight, its resampler) lives in one worker: sessions
 *   are routed by a hash of their id to one of `workers` single-thread pools (src/workers/pool.ts),
 *   each running its jobs one at a time in order, so a session's chunks, and its `end`, are taken
 *   in the order they were sent.
 * - `end(sessionId)` (the session expired) and `endAll()` (the stage is torn down) free the state
 *   in the worker, resamplers included.
 * - A chunk's samples are copied to the worker (they are a view of the record, which the windows
 *   still hold); its frames come back moved, not copied.
 * - A worker that dies is replaced and the chunk it held is run once more on the new one; the
 *   sessions it held restart their streams there (as after a gap). A chunk whose second worker
 *   dies too is rejected (`AcousticCrashError`); the stage counts it and lets it pass without
 *   frames. At most `maxQueued` chunks wait per worker; more are rejected at once.
 */
import type { Logger } from '../../log.js';
import type { AudioChunk } from '../../schemas/records.js';
import { startWorkerPool, type WorkerPool, type WorkerPoolStats } from '../../workers/pool.js';
import type { AcousticStreamStats, AudioUnsupported, ChunkFrames } from './frameStream.js';

/** What a worker gets: a chunk (samples as bytes) or an end. */
export type FrameJob =
  { type: 'chunk'; chunk: Omit<AudioChunk, 'samples'> & { samples: Uint8Array } } | { type: 'end'; sessionId: string } | { type: 'endAll' };

export interface FrameJobResult {
  frames: ChunkFrames | null;
  why: AudioUnsupported | null;
  /** The worker's stream counters after the job. */
  stats: AcousticStreamStats;
  sessions: number;
  resamplers: number;
}

export interface AcousticFramePoolOptions {
  workers: number;
  /** Chunks waiting per worker beyond which a chunk is rejected (default 1024). */
  maxQueued?: number;
  logger: Logger;
}

/** A chunk whose worker died under it twice: it passes without frames (counted). */
export class AcousticCrashError extends Error {
  override readonly name = 'AcousticCrashError';
}

export interface AcousticFramePool {
  /** Computes the frames the chunk completes (then `framesOf` has them), or says why it is not analysed. */
  accept(chunk: AudioChunk): Promise<AudioUnsupported | null>;
  framesOf(chunk: AudioChunk): ChunkFrames | undefined;
  /** Frees the session's stream in its worker (resolves once done; a failure is logged, not thrown). */
  end(sessionId: string): Promise<void>;
  endAll(): Promise<void>;
  /** The counters of all workers together, as AcousticFrameStream's. */
  readonly stats: AcousticStreamStats;
  /** Sessions and resamplers the workers hold (as of their last job). */
  open(): { sessions: number; resamplers: number };
  poolStats(): WorkerPoolStats[];
  /** Ends worker `index` as a crash would: for tests and fault drills. */
  terminateWorker(index: number): Promise<void>;
  release(): Promise<void>;
}

/** FNV-1a: a session's worker, stable for its id. */
function shardOf(sessionId: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) h = Math.imul(h ^ sessionId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % shards;
}

function emptyStats(): AcousticStreamStats {
  return { chunks: 0, frames: 0, restarts: 0, unsupported: { 'sample-rate': 0, encoding: 0 }, resampled: 0, extractMs: 0, resampleMs: 0 };
}

export async function startAcousticFramePool(options: AcousticFramePoolOptions): Promise<AcousticFramePool> {
  const { workers, logger } = options;
  if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError(`acoustic frame pool: workers must be a positive integer, got ${workers}`);
  const pools: WorkerPool<null, FrameJob, FrameJobResult>[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      pools.push(
        await startWorkerPool<null, null, FrameJob, FrameJobResult>({
          here: import.meta.url,
          file: 'frameWorker',
          data: null,
          workers: 1,
          name: `voice-dsp-${i}`,
          loads: 'the acoustic frame stream',
          maxQueued: options.maxQueued ?? 1024,
          crashError: (message) => new AcousticCrashError(message),
          logger,
        }),
      );
    }
  } catch (err) {
    await Promise.all(pools.map((p) => p.release()));
    throw err;
  }
  const byChunk = new WeakMap<AudioChunk, ChunkFrames>();
  /** Each worker's last counters; their sum is the pool's. */
  const last: FrameJobResult[] = pools.map(() => ({ frames: null, why: null, stats: emptyStats(), sessions: 0, resamplers: 0 }));
  const stats = emptyStats();
  const note = (shard: number, r: FrameJobResult) => {
    last[shard] = r;
    const sum = emptyStats();
    for (const l of last) {
      for (const k of ['chunks', 'frames', 'restarts', 'resampled', 'extractMs', 'resampleMs'] as const) sum[k] += l.stats[k];
      sum.unsupported['sample-rate'] += l.stats.unsupported['sample-rate'];
      sum.unsupported.encoding += l.stats.unsupported.encoding;
    }
    Object.assign(stats, sum, { unsupported: sum.unsupported });
  };
  const send = async (shard: number, job: FrameJob): Promise<FrameJobResult> => {
    const r = await pools[shard]!.run(job);
    note(shard, r);
    return r;
  };
  const log = logger.child({ module: 'voice-dsp-pool' });
  log.info({ workers }, `voice DSP in ${workers} worker thread(s)`);
  return {
    async accept(chunk) {
      const { samples, ...rest } = chunk;
      const r = await send(shardOf(chunk.sessionId, pools.length), { type: 'chunk', chunk: { ...rest, samples } });
      if (r.frames) byChunk.set(chunk, r.frames);
      return r.why;
    },
    framesOf: (chunk) => byChunk.get(chunk),
    end(sessionId) {
      return send(shardOf(sessionId, pools.length), { type: 'end', sessionId }).then(
        () => undefined,
        (err: unknown) => log.warn({ err, sessionId }, 'could not free a session in its voice DSP worker'),
      );
    },
    async endAll() {
      await Promise.all(pools.map((_, i) => send(i, { type: 'endAll' }).catch(() => undefined)));
    },
    stats,
    open: () => ({ sessions: last.reduce((n, l) => n + l.sessions, 0), resamplers: last.reduce((n, l) => n + l.resamplers, 0) }),
    poolStats: () => pools.map((p) => p.stats()),
    terminateWorker: (index) => pools[index]!.terminateWorker(0),
    async release() {
      await Promise.all(pools.map((p) => p.release()));
    },
  };
}
