/**
 * A window's non-verbal codebook ids, from the features computed once per record
 * (`acoustic/frameStream.ts`, `visual/faceVectors.ts`). Pure; what the scoring hook `nonVerbal(window)` returns.
 *
 * Acoustic: the frames of the window's audio chunks whose centre lies in [start, end), grouped
 * into pooling intervals aligned to event time (multiples of `poolMs`, 250 ms, since the epoch: an
 * interval gives the same vector in every window holding it), each pooled with the extractor's own
 * pooling (`poolFrames`, as `featurize` does), then quantised with the acoustic codebook.
 * Visual: each frame's face vector, quantised, in event-time order; a frame without a face, or not
 * analysed, gives no id (absence, not a zero vector).
 * A codebook with a gate gives no ids for a window whose vectors lie far from its centroids
 * (median distance above `gate.maxMedianDistance`, before capping): inputs unlike the training
 * data leave the modality absent instead of steering the score (`gated` says which).
 * Both are capped to `maxIds`, evenly subsampled (as training/msa_model/data.py `subsample`).
 * A modality with no ids is absent for the model (one pad id, mask 0).
 */
import { subsample } from '../arrays.js';
import { ACOUSTIC_FRAME_DIM, poolFrames } from './acoustic/index.js';
import type { Quantiser } from './codebook.js';
import type { AudioChunk, VideoFrame } from '../schemas/records.js';
import type { SessionWindow } from '../windows/types.js';
import type { ChunkFrames } from './acoustic/frameStream.js';

/** Codebook indices of a window's acoustic and visual frames, from the feature extractors. */
export interface NonVerbalIds {
  acousticIds: number[];
  visualIds: number[];
  /** Modalities whose inputs the codebook's gate found unlike the training data (no ids given). */
  gated?: { audio: boolean; video: boolean };
}

export interface NonVerbalOptions {
  acoustic: { quantiser: Quantiser; framesOf: (chunk: AudioChunk) => ChunkFrames | undefined; hopMs?: number; frameMs?: number; poolMs?: number } | null;
  visual: { quantiser: Quantiser; vectorOf: (frame: VideoFrame) => number[] | null | undefined } | null;
  /** Most ids per modality (e.g. 4 per second x window seconds). */
  maxIds: number;
}

export function windowNonVerbal(window: SessionWindow, options: NonVerbalOptions): NonVerbalIds {
  const a = options.acoustic ? acousticIds(window, options.acoustic) : { ids: [], gated: false };
  const v = options.visual ? visualIds(window, options.visual) : { ids: [], gated: false };
  return {
    acousticIds: subsample(a.ids, options.maxIds),
    visualIds: subsample(v.ids, options.maxIds),
    ...(a.gated || v.gated ? { gated: { audio: a.gated, video: v.gated } } : {}),
  };
}

/** Pooled acoustic vectors of the window, one per event-time interval of `poolMs` holding a frame centre. */
export function windowAcousticVectors(
  window: SessionWindow,
  framesOf: (chunk: AudioChunk) => ChunkFrames | undefined,
  { hopMs = 10, frameMs = 25, poolMs = 250 } = {},
): { vectors: number[][]; startTimes: number[] } {
  // The window's frames in time order (chunks are in event-time order, their frames too; the sort
  // only guards against a restarted stream).
  const rows: Array<{ t: number; frames: Float32Array; k: number }> = [];
  for (const chunk of window.audio) {
    const f = framesOf(chunk);
    if (!f) continue;
    for (let k = 0; k < f.times.length; k++) {
      const t = f.times[k]!;
      if (t >= window.start && t < window.end) rows.push({ t, frames: f.frames, k });
    }
  }
  rows.sort((a, b) => a.t - b.t);
  const vectors: number[][] = [];
  const intervals: number[] = [];
  for (let from = 0; from < rows.length;) {
    const p = Math.floor(rows[from]!.t / poolMs);
    let to = from;
    while (to < rows.length && Math.floor(rows[to]!.t / poolMs) === p) to++;
    const block = new Float32Array((to - from) * ACOUSTIC_FRAME_DIM);
    for (let i = from; i < to; i++) {
      const { frames, k } = rows[i]!;
      block.set(frames.subarray(k * ACOUSTIC_FRAME_DIM, (k + 1) * ACOUSTIC_FRAME_DIM), (i - from) * ACOUSTIC_FRAME_DIM);
    }
    // One interval at a time through the extractor's own pooling: an infinite interval is one group.
    vectors.push(poolFrames(block, to - from, hopMs, frameMs, Infinity).pooled[0]!);
    intervals.push(p);
    from = to;
  }
  return { vectors, startTimes: intervals.map((p) => p * poolMs) };
}

function acousticIds(window: SessionWindow, o: NonNullable<NonVerbalOptions['acoustic']>): { ids: number[]; gated: boolean } {
  return o.quantiser.quantiseGated(windowAcousticVectors(window, o.framesOf, o).vectors);
}

function visualIds(window: SessionWindow, o: NonNullable<NonVerbalOptions['visual']>): { ids: number[]; gated: boolean } {
  const vectors: number[][] = [];
  for (const frame of window.video) {
    const v = o.vectorOf(frame);
    if (v) vectors.push(v);
  }
  return o.quantiser.quantiseGated(vectors);
}
