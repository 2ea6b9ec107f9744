/** The summary `msa features` prints: one object, stable keys. */
import { pitchSummary } from './acoustic/index.js';
import { EXPRESSIONS, type Expression } from './visual/index.js';
import type { MediaFeatures } from './media.js';

export interface FeatureSummary {
  duration_s: number | null;
  audio_frames: number;
  voiced_fraction: number;
  f0_median_hz: number | null;
  video_frames: number;
  face_fraction: number;
  /** Mean over frames with a face; null when no frame had one. */
  expressions: Record<Expression, number> | null;
}

export function summarise(f: MediaFeatures): FeatureSummary {
  const pitch = f.acoustic ? pitchSummary(f.acoustic) : { voicedFraction: 0, f0MedianHz: null };
  const faces = f.visual.filter((v): v is number[] => v !== null);
  let expressions: FeatureSummary['expressions'] = null;
  if (faces.length > 0) {
    expressions = Object.fromEntries(EXPRESSIONS.map((e, i) => [e, round(faces.reduce((s, v) => s + v[i]!, 0) / faces.length, 4)])) as Record<
      Expression,
      number
    >;
  }
  return {
    duration_s: f.probe.durationS,
    audio_frames: f.acoustic?.frameCount ?? 0,
    voiced_fraction: round(pitch.voicedFraction, 4),
    f0_median_hz: pitch.f0MedianHz === null ? null : round(pitch.f0MedianHz, 1),
    video_frames: f.visual.length,
    face_fraction: f.visual.length > 0 ? round(faces.length / f.visual.length, 4) : 0,
    expressions,
  };
}

export function round(x: number, digits: number): number {
  const p = 10 ** digits;
  return Math.round(x * p) / p;
}
