/**
 * The pipeline's feature stage: voice and face features computed once per input record, before
 * the windows, and turned into the model's non-verbal codebook ids per window.
 *
 * ```
 * decoded records -> extract: audio chunk -> acoustic frames (sync, acoustic/frameStream.ts; with voiceWorkers:
 *                                            async in worker threads, session order kept, acoustic/framePool.ts)
 *                             video frame -> face vector (async, bounded, session order kept; visual/faceVectors.ts;
 *                                            the face model in worker threads with faceWorkers, visual/facePool.ts)
 *                 -> sessionWindows -> scoreWindows(nonVerbal: window -> pooled, quantised ids; nonVerbal.ts)
 * ```
 *
 * Why once per record: a record sits in W/H windows (6 with the defaults); pooling and quantising
 * per window is cheap, the DSP and the face model are not. Features hang off the record objects
 * (WeakMaps), so they are freed with the records once their windows are scored.
 *
 * Why the video stage keeps session order: the windows need each session's records in event-time
 * order (the watermark is the session's max event time); if an audio chunk overtook a video frame
 * still in the face model, the frame could arrive late. Records of other sessions do not wait.
 *
 * The rule: a modality's ids are filled ONLY when the served model's manifest names a codebook
 * file for it (`codebooks.acoustic.file` / `codebooks.visual.file`, written by `msa codebook fit`).
 * A model trained without non-verbal ids (the current text-only one: `codebooks: null`) would read
 * ids from a codebook it never saw as noise, so for it nothing is extracted, the ids stay absent
 * (pad, mask 0), each score's `used` says so, and the log says once that audio / video arrive
 * but this model does not use them.
 */
import type { MonoTypeOperatorFunction, Observable } from 'rxjs';
import { finalize, tap } from 'rxjs';
import type { Logger } from '../log.js';
import { ACOUSTIC_FEATURES } from './acoustic/index.js';
import { loadManifestCodebooks, Quantiser, type Codebook, type CodebookRefs, type ManifestCodebooks } from './codebook.js';
import { detectorModelFor, sharedFaceAnalyzer, VISUAL_FEATURES, type FaceDetector } from './visual/index.js';
import { startFacePool } from './visual/facePool.js';
import type { AudioChunk, InputRecord } from '../schemas/records.js';
import type { Positioned, SessionWindow } from '../windows/types.js';
import { AcousticFrameStream, FEATURE_SAMPLE_RATE, RESAMPLED_RATES, type AcousticStreamStats, type AudioUnsupported } from './acoustic/frameStream.js';
import { startAcousticFramePool, type AcousticFramePool } from './acoustic/framePool.js';
import { keepSessionOrder, type KeepSessionOrderState } from '../operators/keepSessionOrder.js';
import { loadImageDecoder, type ImageDecoder } from '../media/image.js';
import { FaceVectors, VISUAL_FEATURE_SET, type FaceSource, type FaceVectorStats } from './visual/faceVectors.js';
import { windowNonVerbal, type NonVerbalIds } from './nonVerbal.js';
import type { WorkerPoolStats } from '../workers/pool.js';

export { VISUAL_FEATURE_SET, type FaceSource } from './visual/faceVectors.js';

export interface FeatureOptions {
  codebooks: ManifestCodebooks;
  /** Needed when there is a visual codebook (`loadPipelineFeatures` loads the face pool or the shared FaceAnalyzer). */
  faces?: FaceSource | null;
  /** JPEG / PNG decoder (sharp), or why there is none. */
  decoder?: ImageDecoder | string | null;
  /** Window length W (ms): the id cap is `idsPerSecond` x W seconds. */
  windowSizeMs: number;
  /** Default 4 (the acoustic pooling rate and the video sampling rate of `featurize`). */
  idsPerSecond?: number;
  video?: { concurrency?: number; maxQueued?: number; minIntervalMs?: number; maxWaitMs?: number };
  /** Voice DSP in worker threads (acoustic/framePool.ts); null / absent: in this thread. */
  voiceDsp?: AcousticFramePool | null;
  /** Sessions that ended or went idle (from the windows): their stream state is freed. */
  expired$?: Observable<string>;
  logger: Logger;
}

export interface FeatureStats {
  /** `gated`: windows whose voice / faces the codebook's gate found unlike the training data (no ids). */
  audio: AcousticStreamStats & {
    notUsed: number;
    gated: number;
    /** Voice DSP in workers only: chunks passed without frames because 1024 waited, or their worker failed. */
    shed: number;
    failed: number;
  };
  video: FaceVectorStats & { notUsed: number; gated: number; queue: KeepSessionOrderState };
}

export interface PipelineFeatures {
  /** Modalities this model reads (it has a codebook for them). */
  readonly uses: { audio: boolean; video: boolean };
  /** The stage before the windows: computes features, keeps each session's order. */
  extract: MonoTypeOperatorFunction<Positioned<InputRecord>>;
  /** The scoring hook; undefined when the model uses neither audio nor video. */
  nonVerbal: ((window: SessionWindow) => NonVerbalIds) | undefined;
  readonly stats: FeatureStats;
  /** The counters of the stage's worker pools now: `face` (faceWorkers) and `voice-dsp` (voiceWorkers, summed over its pools); absent when in this thread. */
  workers(): Record<string, WorkerPoolStats>;
  /** Frees what `loadPipelineFeatures` started for the stage (face worker threads). */
  release(): Promise<void>;
}

/**
 * Loads the manifest's codebooks (and, when a visual codebook is named, the face analyzer: in
 * `faceWorkers` worker threads, or the shared one in this thread for 0; and, for an acoustic
 * codebook with `voiceWorkers` > 0, the voice DSP workers) and builds the stage.
 */
export async function loadPipelineFeatures(
  options: Omit<FeatureOptions, 'codebooks' | 'faces' | 'decoder' | 'voiceDsp'> & {
    manifest: CodebookRefs;
    faceWorkers: number;
    /** Frames that waited longer for a face worker pass without a face vector (features.faceMaxWaitMs). */
    faceMaxWaitMs?: number;
    faceDetector: FaceDetector;
    voiceWorkers: number;
  },
): Promise<PipelineFeatures> {
  const codebooks = await loadManifestCodebooks(options.manifest);
  const { faceWorkers, faceDetector, voiceWorkers, logger } = options;
  const faces: FaceSource | null = !codebooks.visual
    ? null
    : faceWorkers > 0
      ? await startFacePool({ workers: faceWorkers, detectorModel: detectorModelFor(faceDetector), logger })
      : await sharedFaceAnalyzer(faceDetector);
  // With workers, one frame waits in the pool while each worker analyses one (the next is decoded meanwhile).
  const video = { concurrency: Math.max(1, 2 * faceWorkers), maxWaitMs: options.faceMaxWaitMs, ...options.video };
  let voiceDsp: AcousticFramePool | null = null;
  const release = async () => {
    await faces?.release?.();
    await voiceDsp?.release();
  };
  try {
    voiceDsp = codebooks.acoustic && voiceWorkers > 0 ? await startAcousticFramePool({ workers: voiceWorkers, logger }) : null;
    const decoder = codebooks.visual ? await loadImageDecoder() : null;
    const features = createPipelineFeatures({ ...options, codebooks, faces, decoder, video, voiceDsp });
    return { ...features, release };
  } catch (err) {
    await release();
    throw err;
  }
}

export function createPipelineFeatures(options: FeatureOptions): PipelineFeatures {
  const { codebooks } = options;
  const log = options.logger.child({ component: 'features' });
  checkLayout(codebooks.acoustic, ACOUSTIC_FEATURES, 'acoustic');
  checkLayout(codebooks.visual, VISUAL_FEATURES, 'visual');
  if (codebooks.visual && !options.faces) throw new Error('features: the model has a visual codebook but no face analyzer was given');

  const pool = options.voiceDsp ?? null;
  const audio = pool ?? new AcousticFrameStream();
  const decoder = typeof options.decoder === 'function' ? options.decoder : null;
  const noDecoder = typeof options.decoder === 'string' ? options.decoder : 'no image decoder was given';
  const faces = new FaceVectors({
    faces: options.faces ?? null,
    decoder,
    minIntervalMs: options.video?.minIntervalMs,
    maxWaitMs: options.video?.maxWaitMs,
    onStale: (f) =>
      once(
        'face-stale',
        { maxWaitMs: options.video?.maxWaitMs ?? 200, sessionId: f.sessionId },
        'face analysis is behind: frames that waited longer than features.faceMaxWaitMs pass without a face vector (counted in features.video.stale)',
      ),
  });
  const queue: KeepSessionOrderState = { queued: 0, running: 0, held: 0 };
  const stats: FeatureStats = {
    audio: Object.assign(audio.stats, { notUsed: 0, gated: 0, shed: 0, failed: 0 }),
    video: Object.assign(faces.stats, { notUsed: 0, gated: 0, queue }),
  };
  const uses = { audio: codebooks.acoustic !== null, video: codebooks.visual !== null };

  const said = new Set<string>();
  const once = (key: string, fields: object, message: string, level: 'info' | 'warn' = 'warn') => {
    if (said.has(key)) return;
    said.add(key);
    log[level](fields, message);
  };
  const notUsed = (kind: 'audio' | 'video') =>
    once(
      `unused-${kind}`,
      { modality: kind },
      `${kind} records arrive but the served model has no ${kind === 'audio' ? 'acoustic' : 'visual'} codebook (manifest codebooks.${kind === 'audio' ? 'acoustic' : 'visual'}.file): ${kind} is not extracted and not used; scores say so (Score.modalitiesUsed)` +
        (kind === 'audio' ? '; the speech stage (asr.mode) still hears its words' : ''),
      'info', // the default manifest reads words only: the normal case, not a problem
    );

  /** The chunk to analyse, or null (not audio, empty, or a model that reads no audio). */
  const audioOf = (record: Positioned<InputRecord>): AudioChunk | null => {
    if (record.value.kind !== 'audio') return null;
    const chunk = record.value.value;
    if (chunk.samples.length === 0) return null;
    if (!uses.audio) {
      stats.audio.notUsed++;
      notUsed('audio');
      return null;
    }
    return chunk;
  };
  const onAudioResult = (chunk: AudioChunk, why: AudioUnsupported | null) => {
    if (why === 'sample-rate') {
      once(
        `rate-${chunk.sampleRate}`,
        { sampleRate: chunk.sampleRate, sessionId: chunk.sessionId },
        `audio at ${chunk.sampleRate} Hz is not analysed (counted in features.audio.unsupported): features are computed at ${FEATURE_SAMPLE_RATE} Hz (the codebook's rate), and only integer rates from ${RESAMPLED_RATES.min} to ${RESAMPLED_RATES.max} Hz are resampled to it; send audio at a rate in that range`,
      );
    } else if (why === 'encoding') {
      once(`encoding-${chunk.encoding}`, { encoding: chunk.encoding }, `audio encoding ${chunk.encoding} is not analysed; send S16LE`);
    }
  };
  // In this thread: frames computed as each chunk passes. In workers: an async stage that keeps each session's order, like the faces'.
  const audioStage: MonoTypeOperatorFunction<Positioned<InputRecord>> = pool
    ? keepSessionOrder<Positioned<InputRecord>>({
        sessionOf: (r) => r.value.value.sessionId,
        workFor: (r) => {
          const chunk = audioOf(r);
          return chunk ? async () => onAudioResult(chunk, await pool.accept(chunk)) : null;
        },
        // Chunks cost well under a millisecond: enough in flight to keep every worker busy.
        concurrency: 64,
        maxQueued: 1024,
        onShed: () => {
          stats.audio.shed++;
          once('audio-shed', {}, 'voice DSP cannot keep up: audio chunks beyond 1024 waiting pass without frames (counted in features.audio.shed)');
        },
        onError: (r, err) => {
          stats.audio.failed++;
          once(
            'audio-failed',
            { err, sessionId: r.value.value.sessionId },
            'voice DSP failed on a chunk; it passes without frames (counted in features.audio.failed)',
          );
        },
      })
    : tap((r) => {
        const chunk = audioOf(r);
        if (chunk) onAudioResult(chunk, (audio as AcousticFrameStream).accept(chunk));
      });

  const extract: MonoTypeOperatorFunction<Positioned<InputRecord>> = (source) =>
    source.pipe(
      audioStage,
      keepSessionOrder<Positioned<InputRecord>>(
        {
          sessionOf: (r) => r.value.value.sessionId,
          workFor: (r) => {
            if (r.value.kind !== 'video') return null;
            const frame = r.value.value;
            if (!uses.video) {
              if (frame.data.length > 0 || frame.features.length > 0) {
                stats.video.notUsed++;
                notUsed('video');
              }
              return null;
            }
            return faces.workFor(frame, (why, f) =>
              once(
                `video-${why}`,
                { format: f.format, featureSet: f.featureSet, sessionId: f.sessionId },
                why === 'invalid'
                  ? `a ${f.width}x${f.height} RGB24 frame has ${f.data.length} bytes, not ${f.width * f.height * 3}: not analysed`
                  : f.format === 'JPEG' || f.format === 'PNG'
                    ? `${f.format} video frames are not used for features: ${noDecoder}; send RGB24 frames or install sharp`
                    : `video frames of format ${f.format}${f.format === 'FEATURES' ? ` (featureSet ${f.featureSet ?? 'null'}, ${f.features.length} values)` : ''} are not used for features: send RGB24 frames, or FEATURES with featureSet ${VISUAL_FEATURE_SET} and ${VISUAL_FEATURES.length} values`,
              ),
            );
          },
          concurrency: options.video?.concurrency ?? 1,
          maxQueued: options.video?.maxQueued ?? 64,
          onShed: () => {
            stats.video.shed++;
            once(
              'shed',
              { maxQueued: options.video?.maxQueued ?? 64 },
              'face analysis cannot keep up: frames beyond the queue bound pass without a face vector (counted in features.video.shed)',
            );
          },
          onError: (r, err) => {
            stats.video.failed++;
            once(
              'face-failed',
              { err, sessionId: r.value.value.sessionId },
              'face analysis failed on a frame; it passes without a face vector (counted in features.video.failed)',
            );
          },
        },
        queue,
      ),
      // Torn down (stopped, or the source ended): free the sessions' audio streams, resamplers included.
      finalize(() => void audio.endAll()),
    );

  options.expired$?.subscribe((sessionId) => {
    void audio.end(sessionId);
    faces.end(sessionId);
  });

  const quantisers = {
    acoustic: codebooks.acoustic ? new Quantiser(codebooks.acoustic) : null,
    visual: codebooks.visual ? new Quantiser(codebooks.visual) : null,
  };
  const maxIds = Math.max(1, Math.ceil(((options.idsPerSecond ?? 4) * options.windowSizeMs) / 1000));
  const nonVerbal =
    uses.audio || uses.video
      ? (window: SessionWindow) => {
          const ids = windowNonVerbal(window, {
            acoustic: quantisers.acoustic ? { quantiser: quantisers.acoustic, framesOf: (c) => audio.framesOf(c) } : null,
            visual: quantisers.visual ? { quantiser: quantisers.visual, vectorOf: (f) => faces.vectorOf(f) } : null,
            maxIds,
          });
          if (ids.gated?.audio) stats.audio.gated++;
          if (ids.gated?.video) stats.video.gated++;
          return ids;
        }
      : undefined;

  log.info(
    { audio: uses.audio, video: uses.video, maxIds },
    uses.audio || uses.video ? 'non-verbal features on' : 'non-verbal features off: the model names no codebooks',
  );
  const workers = (): Record<string, WorkerPoolStats> => {
    const out: Record<string, WorkerPoolStats> = {};
    const face = options.faces?.stats?.();
    if (face) out.face = face;
    const dsp = pool?.poolStats() ?? [];
    if (dsp.length > 0) out['voice-dsp'] = sumPoolStats(dsp);
    return out;
  };
  return { uses, extract, nonVerbal, stats, workers, release: () => Promise.resolve() };
}

function sumPoolStats(all: readonly WorkerPoolStats[]): WorkerPoolStats {
  const sum: WorkerPoolStats = { workers: 0, busy: 0, queued: 0, crashes: 0, retried: 0, failed: 0 };
  for (const s of all) for (const k of Object.keys(sum) as (keyof WorkerPoolStats)[]) sum[k] += s[k];
  return sum;
}

/** A codebook fitted on another feature layout would quantise the wrong numbers: refuse it. */
function checkLayout(codebook: Codebook | null, layout: readonly string[], modality: string): void {
  if (!codebook) return;
  if (codebook.featureNames.length !== layout.length || codebook.featureNames.some((n, i) => n !== layout[i])) {
    throw new Error(
      `the ${modality} codebook was fitted on features [${codebook.featureNames.slice(0, 3).join(', ')}, ... (${codebook.featureNames.length})], ` +
        `but the pipeline computes [${layout.slice(0, 3).join(', ')}, ... (${layout.length})]; refit it with msa codebook fit on msa featurize output`,
    );
  }
}
