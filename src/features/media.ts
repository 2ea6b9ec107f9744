/**
 * Runs the acoustic and visual extractors over one media input (file, URL, stdin, lavfi): the
 * shared path of `msa features`, `msa featurize` and the bench. Audio is decoded to 16 kHz mono,
 * video sampled at `fps` (default 4, the acoustic pooling rate) and 320 px wide.
 */
import { decodeAudio, decodeVideoFrames, probe, type ProbeResult, type SourceOptions } from '../media/ffmpeg/index.js';
import { AcousticExtractor, type AcousticFeatures, type AcousticTimings } from './acoustic/index.js';
import type { FaceAnalyzer } from './visual/index.js';

export interface MediaFeatureOptions extends SourceOptions {
  fps?: number;
  width?: number;
  /** Skip audio / video even when present. */
  audio?: boolean;
  video?: boolean;
  /** Needed when video is analysed. */
  faces?: FaceAnalyzer;
  maxFrames?: number;
  /** Keep the decoded 16 kHz audio in `MediaFeatures.pcm` (the voice path reads it). */
  keepPcm?: boolean;
}

export interface MediaTimings extends AcousticTimings {
  audioDecodeMs: number;
  videoDecodeMs: number;
  faceMs: number;
}

export interface MediaFeatures {
  probe: ProbeResult;
  /** null when the input has no audio (or audio was skipped). */
  acoustic: AcousticFeatures | null;
  /** One entry per sampled frame: the visual vector, or null when no face was found. */
  visual: (number[] | null)[];
  /** Time (s) of each sampled frame. */
  visualTimes: number[];
  fps: number;
  /** The 16 kHz mono audio, with `keepPcm`; null without audio. */
  pcm: Float32Array | null;
}

export const newTimings = (): MediaTimings => ({ audioDecodeMs: 0, videoDecodeMs: 0, faceMs: 0, spectralMs: 0, pitchMs: 0, poolMs: 0 });

const extractors = new Map<number, AcousticExtractor>();

export async function extractMediaFeatures(input: string, options: MediaFeatureOptions = {}, timings?: MediaTimings): Promise<MediaFeatures> {
  const fps = options.fps ?? 4;
  const info = await probe(input, options);
  let acoustic: AcousticFeatures | null = null;
  let kept: Float32Array | null = null;
  if (info.hasAudio && (options.audio !== false || options.keepPcm)) {
    const sampleRate = 16000;
    const t = performance.now();
    const pcm = await decodeAudio(input, { ...options, sampleRate });
    if (timings) timings.audioDecodeMs += performance.now() - t;
    if (options.keepPcm) kept = pcm;
    if (options.audio !== false) {
      let ex = extractors.get(sampleRate);
      if (!ex) extractors.set(sampleRate, (ex = new AcousticExtractor({ sampleRate })));
      acoustic = ex.extract(pcm, timings);
    }
  }
  const visual: (number[] | null)[] = [];
  const visualTimes: number[] = [];
  if (info.hasVideo && options.video !== false) {
    if (!options.faces) throw new Error('extractMediaFeatures: video requested but no FaceAnalyzer given');
    let t = performance.now();
    for await (const frame of decodeVideoFrames(input, { ...options, fps, width: options.width ?? 320 })) {
      const t1 = performance.now();
      if (timings) timings.videoDecodeMs += t1 - t;
      const obs = await options.faces.analyze(frame);
      t = performance.now();
      if (timings) timings.faceMs += t - t1;
      visual.push(obs ? obs.vector : null);
      visualTimes.push(frame.time);
    }
  }
  return { probe: info, acoustic, visual, visualTimes, fps, pcm: kept };
}
