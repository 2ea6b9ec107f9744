/**
 * Face vectors of video frames, computed once per frame before the windows (a WeakMap keyed by
 * the frame object): `VISUAL_FEATURES` for a face, `null` for a frame analysed without a face,
 * nothing for a frame not analysed.
 *
 * Formats: RGB24, JPEG and PNG frames go to the face analyzer (async, ~40-60 ms a frame on one
 * core, WASM). JPEG / PNG are decoded in process with sharp (libvips, ~1 ms for 320x240, off the
 * event loop; ffmpeg per frame would cost ~40 ms of CPU and a process, as much as the face model),
 * and scaled down to `maxWidth` (320, the width `featurize` analyses) on the way; RGB24 wider than
 * that is scaled by sharp too. Without sharp, JPEG / PNG are counted as unsupported (RGB24 is
 * analysed at its size). FEATURES frames whose `featureSet` is `VISUAL_FEATURE_SET` with
 * `VISUAL_DIM` values are taken as they are (an edge device ran the same extractor;
 * `facePresent: false` means no face); FEATURES of another extractor are unsupported.
 *
 * Per session at most one frame per `minIntervalMs` of event time is analysed (default 250 ms:
 * 4 fps, the rate the codebooks were fitted at); the others are counted as `rateSkipped`.
 *
 * Under overload a live frame that waited more than `maxWaitMs` for the face analyzer (queued
 * behind other sessions' frames) passes without a face vector, counted as `stale`: the windows wait
 * for every frame in their range, so a frame's wait is their delay. Frames are taken in arrival
 * order, so the ones skipped are spread over the sessions, and each window still gets the frames
 * that could be analysed in time (a window's visual ids come from the frames analysed, as for a
 * frame without a face). Live: the frame reached the stage within `LIVE_AGE_MS` of its event time
 * (wall clock). Frames of a backlog (read after a restart, replayed at full speed or with their
 * recorded times) are all analysed however long they wait: their windows are late anyway, and
 * skipping would make a replay's faces depend on the machine's speed.
 */
import type { FaceObservation, RgbFrame } from './index.js';
import { VISUAL_DIM } from './index.js';
import type { ImageDecoder } from '../../media/image.js';
import type { VideoFrame } from '../../schemas/records.js';
import type { WorkerPoolStats } from '../../workers/pool.js';

/** A frame that reaches the stage more than this long (ms) after its event time is from a backlog: `maxWaitMs` does not apply to it. */
export const LIVE_AGE_MS = 5000;

/** The `featureSet` of FEATURES frames computed by this project's visual extractor (src/features/visual). */
export const VISUAL_FEATURE_SET = 'msa-visual-1';

/** What analyses RGB frames: `FaceAnalyzer` in this thread, the face pool (./facePool.ts) in worker threads, or a stand-in in tests. */
export interface FaceSource {
  /** `owned`: the frame's pixels were decoded for this call and nobody reads them after (they may be moved to a worker). */
  analyze(frame: RgbFrame, options?: { owned?: boolean }): Promise<FaceObservation | null>;
  /** Frees what the source holds (worker threads); the shared in-thread analyzer has none. */
  release?(): Promise<void>;
  /** The worker pool's counters (the face pool); the in-thread analyzer has none. */
  stats?(): WorkerPoolStats;
}

export type VideoUnsupported = 'JPEG' | 'PNG' | 'FEATURES' | 'invalid';

export interface FaceVectorStats {
  frames: number;
  /** Frames given to the face analyzer, and how many of them had a face. */
  analysed: number;
  faces: number;
  /** FEATURES frames taken from an edge extractor. */
  fromEdge: number;
  rateSkipped: number;
  /** Frames not analysed because `maxQueued` frames already waited (overload). */
  shed: number;
  /** Frames not analysed because they waited more than `maxWaitMs` for the analyzer (overload). */
  stale: number;
  failed: number;
  unsupported: Record<VideoUnsupported, number>;
  /** Time spent in the face analyzer (ms, wall clock of the awaited calls). */
  analyseMs: number;
  /** Time spent decoding / scaling frames (ms, wall clock of the awaited calls). */
  decodeMs: number;
}

export interface FaceVectorOptions {
  faces: FaceSource | null;
  /** JPEG / PNG decoding and scaling; null: JPEG / PNG unsupported, RGB24 analysed at its size. */
  decoder?: ImageDecoder | null;
  /** Frames are analysed at most this wide (default 320, as `featurize`). */
  maxWidth?: number;
  minIntervalMs?: number;
  /** A live frame that waited longer than this for the analyzer is not analysed (`stale`); 0: no bound (default 200). */
  maxWaitMs?: number;
  /** Called for each stale frame (the stage logs the first). */
  onStale?: (frame: VideoFrame) => void;
  /** The clock the wait is measured with (ms; default performance.now). */
  now?: () => number;
  /** The wall clock a frame's age is measured with (epoch ms; default Date.now). */
  wallNow?: () => number;
  /** Sessions whose last analysed time is remembered (default 10 000). */
  maxSessions?: number;
}

export class FaceVectors {
  readonly stats: FaceVectorStats = {
    frames: 0,
    analysed: 0,
    faces: 0,
    fromEdge: 0,
    rateSkipped: 0,
    shed: 0,
    stale: 0,
    failed: 0,
    unsupported: { JPEG: 0, PNG: 0, FEATURES: 0, invalid: 0 },
    analyseMs: 0,
    decodeMs: 0,
  };
  private readonly byFrame = new WeakMap<VideoFrame, number[] | null>();
  private readonly lastAnalysed = new Map<string, number>();
  private readonly minIntervalMs: number;
  private readonly maxWaitMs: number;
  private readonly maxSessions: number;
  private readonly maxWidth: number;

  constructor(private readonly options: FaceVectorOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 250;
    this.maxWaitMs = options.maxWaitMs ?? 200;
    if (!(Number.isFinite(this.maxWaitMs) && this.maxWaitMs >= 0)) throw new RangeError(`face maxWaitMs ${this.maxWaitMs} must be a number >= 0`);
    this.maxSessions = options.maxSessions ?? 10_000;
    this.maxWidth = options.maxWidth ?? 320;
  }

  /**
   * Takes a frame: stores an edge vector at once, or returns the analysis to run (null when there
   * is nothing to run). `onUnsupported` hears why a frame cannot be used.
   */
  workFor(frame: VideoFrame, onUnsupported: (why: VideoUnsupported, frame: VideoFrame) => void): (() => Promise<void>) | null {
    // An end-of-stream marker carries nothing; an edge verdict "no face" (facePresent false) does.
    if (frame.data.length === 0 && frame.features.length === 0 && frame.facePresent !== false) return null;
    this.stats.frames++;
    const unsupported = (why: VideoUnsupported) => {
      this.stats.unsupported[why]++;
      onUnsupported(why, frame);
      return null;
    };
    switch (frame.format) {
      case 'FEATURES': {
        if (frame.featureSet !== VISUAL_FEATURE_SET || (frame.facePresent !== false && frame.features.length !== VISUAL_DIM)) return unsupported('FEATURES');
        this.stats.fromEdge++;
        this.byFrame.set(frame, frame.facePresent === false ? null : [...frame.features]);
        return null;
      }
      case 'RGB24':
      case 'JPEG':
      case 'PNG': {
        const { width, height, data, format } = frame;
        const decoder = this.options.decoder ?? null;
        if (format === 'RGB24' && !(width > 0 && height > 0 && data.length === width * height * 3)) return unsupported('invalid');
        if (format !== 'RGB24' && !decoder) return unsupported(format);
        const faces = this.options.faces;
        if (!faces) return null;
        const last = this.lastAnalysed.get(frame.sessionId);
        if (last !== undefined && frame.eventTime >= last && frame.eventTime - last < this.minIntervalMs) {
          this.stats.rateSkipped++;
          return null;
        }
        this.lastAnalysed.delete(frame.sessionId);
        this.lastAnalysed.set(frame.sessionId, frame.eventTime);
        if (this.lastAnalysed.size > this.maxSessions) this.lastAnalysed.delete(this.lastAnalysed.keys().next().value!);
        const maxWidth = this.maxWidth;
        const now = this.options.now ?? (() => performance.now());
        const queuedAt = now();
        const live = (this.options.wallNow ?? Date.now)() - frame.eventTime <= LIVE_AGE_MS;
        return async () => {
          if (live && this.maxWaitMs > 0 && now() - queuedAt > this.maxWaitMs) {
            this.stats.stale++;
            this.options.onStale?.(frame);
            return;
          }
          let rgb: RgbFrame = { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
          let owned = false;
          if (decoder && (format !== 'RGB24' || width > maxWidth)) {
            const t = performance.now();
            try {
              rgb = await decoder(frame, maxWidth);
              owned = true;
            } finally {
              this.stats.decodeMs += performance.now() - t;
            }
          }
          const t0 = performance.now();
          try {
            const seen = await faces.analyze(rgb, { owned });
            this.stats.analysed++;
            if (seen) this.stats.faces++;
            this.byFrame.set(frame, seen ? seen.vector : null);
          } finally {
            this.stats.analyseMs += performance.now() - t0;
          }
        };
      }
      default:
        return unsupported(frame.format);
    }
  }

  /** The frame's face vector, null (analysed, no face), or undefined (not analysed). */
  vectorOf(frame: VideoFrame): number[] | null | undefined {
    return this.byFrame.get(frame);
  }

  end(sessionId: string): void {
    this.lastAnalysed.delete(sessionId);
  }
}
