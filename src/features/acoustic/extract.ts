/**
 * Acoustic features of mono PCM: per 25 ms frame (10 ms hop) MFCC, log energy, F0 and voicing,
 * spectral shape; then pooled to fixed intervals (default 250 ms, 4 vectors/s). Pure: Float32Array
 * in, numbers out. The same code runs in `featurize` (training data) and in the pipeline.
 *
 * Frames: frame k covers samples [k*hop, k*hop + frame) and is centred at (k*hop + frame/2) / sr;
 * only whole frames are analysed. Each is Hann-windowed, zero-padded to the FFT size (512 at
 * 16 kHz), as meyda would need it. Pitch is YIN on a 2:1 decimated copy, centred on the frame.
 */
import { ACOUSTIC_DIM, ACOUSTIC_FRAME_DIM } from './layout.js';
import { Fft } from './fft.js';
import { melTables, type MelTables } from './mel.js';
import { decimateBy2, YinTracker } from './pitch.js';
import { median } from '../../arrays.js';

export interface AcousticOptions {
  sampleRate?: number;
  frameMs?: number;
  hopMs?: number;
  /** Pooling interval in ms (default 250: 4 vectors/s). */
  poolMs?: number;
  /** Frames quieter than this (RMS, dBFS) are unvoiced whatever YIN says (default -50). */
  voicingGateDb?: number;
  minF0?: number;
  maxF0?: number;
}

export interface AcousticTimings {
  spectralMs: number;
  pitchMs: number;
  poolMs: number;
}

export interface AcousticFeatures {
  sampleRate: number;
  hopS: number;
  frameS: number;
  poolS: number;
  frameCount: number;
  /** frameCount x ACOUSTIC_FRAME_DIM, row-major (see ACOUSTIC_FRAME_FEATURES). */
  frames: Float32Array;
  /** One ACOUSTIC_DIM vector per pooling interval that holds at least one frame. */
  pooled: number[][];
  /** Start time (s) of each pooled interval. */
  pooledStartS: number[];
}

const F = {
  logEnergy: 13,
  f0: 14,
  voicing: 15,
  voiced: 16,
  centroid: 17,
  flatness: 18,
  rolloff: 19,
  zcr: 20,
} as const;

/** Holds the tables and scratch buffers for one sample rate; reuse it across calls. */
export class AcousticExtractor {
  readonly sampleRate: number;
  readonly frameLen: number;
  readonly hop: number;
  readonly fftSize: number;
  private readonly poolMs: number;
  private readonly gateDb: number;
  private readonly fft: Fft;
  private readonly mel: MelTables;
  private readonly hann: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly power: Float64Array;
  private readonly logMel: Float64Array;
  private readonly yin: YinTracker;
  private readonly decimation: number;

  constructor(options: AcousticOptions = {}) {
    const { sampleRate = 16000, frameMs = 25, hopMs = 10, poolMs = 250, voicingGateDb = -50, minF0 = 60, maxF0 = 500 } = options;
    this.sampleRate = sampleRate;
    this.frameLen = Math.round((sampleRate * frameMs) / 1000);
    this.hop = Math.round((sampleRate * hopMs) / 1000);
    this.fftSize = 2 ** Math.ceil(Math.log2(this.frameLen));
    this.poolMs = poolMs;
    this.gateDb = voicingGateDb;
    this.fft = new Fft(this.fftSize);
    this.mel = melTables(this.fftSize, sampleRate);
    this.hann = new Float64Array(this.frameLen);
    for (let i = 0; i < this.frameLen; i++) this.hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (this.frameLen - 1));
    this.re = new Float64Array(this.fftSize);
    this.im = new Float64Array(this.fftSize);
    this.power = new Float64Array(this.fftSize / 2);
    this.logMel = new Float64Array(this.mel.numFilters);
    // Pitch at a quarter of the rate (4 kHz from 16 kHz; see pitch.ts): F0 <= 500 Hz and its
    // first harmonics stay below the new Nyquist, and the difference function is 16x cheaper.
    this.decimation = sampleRate >= 16000 ? 4 : sampleRate >= 8000 ? 2 : 1;
    this.yin = new YinTracker({ sampleRate: sampleRate / this.decimation, minF0, maxF0 });
  }

  frameCount(samples: number): number {
    return samples < this.frameLen ? 0 : Math.floor((samples - this.frameLen) / this.hop) + 1;
  }

  /** Per-frame and pooled features of a whole signal. */
  extract(pcm: Float32Array, timings?: AcousticTimings): AcousticFeatures {
    const n = this.frameCount(pcm.length);
    const frames = new Float32Array(n * ACOUSTIC_FRAME_DIM);
    let t0 = performance.now();
    for (let k = 0; k < n; k++) this.spectralFrame(pcm, k * this.hop, frames, k * ACOUSTIC_FRAME_DIM);
    let t1 = performance.now();
    if (timings) timings.spectralMs += t1 - t0;
    t0 = t1;
    this.pitchFrames(pcm, n, frames);
    t1 = performance.now();
    if (timings) timings.pitchMs += t1 - t0;
    t0 = t1;
    const { pooled, pooledStartS } = poolFrames(frames, n, (this.hop / this.sampleRate) * 1000, (this.frameLen / this.sampleRate) * 1000, this.poolMs);
    if (timings) timings.poolMs += performance.now() - t0;
    return {
      sampleRate: this.sampleRate,
      hopS: this.hop / this.sampleRate,
      frameS: this.frameLen / this.sampleRate,
      poolS: this.poolMs / 1000,
      frameCount: n,
      frames,
      pooled,
      pooledStartS,
    };
  }

  /** MFCC, energy, spectral shape and zcr of the frame starting at `start`, written at out[o..]. */
  private spectralFrame(x: Float32Array, start: number, out: Float32Array, o: number): void {
    const L = this.frameLen;
    const re = this.re;
    const im = this.im;
    let energy = 0;
    let crossings = 0;
    let prev = x[start]!;
    for (let i = 0; i < L; i++) {
      const v = x[start + i]!;
      energy += v * v;
      if (v >= 0 !== prev >= 0) crossings++;
      prev = v;
      re[i] = v * this.hann[i]!;
      im[i] = 0;
    }
    re.fill(0, L);
    im.fill(0, L);
    this.fft.transform(re, im);
    const nb = this.fftSize / 2;
    const power = this.power;
    let sumP = 0;
    let sumMag = 0;
    let sumKMag = 0;
    let sumLogP = 0;
    for (let k = 0; k < nb; k++) {
      const p = re[k]! * re[k]! + im[k]! * im[k]!;
      power[k] = p;
      sumP += p;
      const m = Math.sqrt(p);
      sumMag += m;
      sumKMag += k * m;
      sumLogP += Math.log(p + 1e-12);
    }
    // mel energies -> log -> DCT
    const { filters, dct, numFilters, numCoefficients } = this.mel;
    for (let f = 0; f < numFilters; f++) {
      const { start: s0, weights } = filters[f]!;
      let acc = 0;
      for (let i = 0; i < weights.length; i++) acc += weights[i]! * power[s0 + i]!;
      this.logMel[f] = Math.log(acc + 1e-10);
    }
    for (let c = 0; c < numCoefficients; c++) {
      let acc = 0;
      const row = c * numFilters;
      for (let f = 0; f < numFilters; f++) acc += dct[row + f]! * this.logMel[f]!;
      out[o + c] = acc;
    }
    const binHz = this.sampleRate / this.fftSize;
    out[o + F.logEnergy] = 10 * Math.log10(energy / L + 1e-10);
    out[o + F.centroid] = sumMag > 0 ? (sumKMag / sumMag) * binHz : 0;
    out[o + F.flatness] = sumP > 0 ? Math.exp(sumLogP / nb) / (sumP / nb + 1e-12) : 0;
    let acc = 0;
    let roll = 0;
    const target = 0.85 * sumP;
    while (roll < nb - 1 && acc + power[roll]! < target) acc += power[roll++]!;
    out[o + F.rolloff] = sumP > 0 ? roll * binHz : 0;
    out[o + F.zcr] = crossings / (L - 1);
  }

  private pitchFrames(pcm: Float32Array, n: number, frames: Float32Array): void {
    let x = pcm;
    for (let d = this.decimation; d > 1; d /= 2) x = decimateBy2(x);
    const ratio = 1 / this.decimation;
    for (let k = 0; k < n; k++) {
      const o = k * ACOUSTIC_FRAME_DIM;
      const centre = (k * this.hop + this.frameLen / 2) * ratio;
      const loud = frames[o + F.logEnergy]! > this.gateDb;
      const { f0, voicing } = loud ? this.yin.estimate(x, centre) : { f0: 0, voicing: 0 };
      const voiced = loud && f0 > 0;
      frames[o + F.f0] = voiced ? f0 : 0;
      frames[o + F.voicing] = voicing;
      frames[o + F.voiced] = voiced ? 1 : 0;
    }
  }
}

/** Pools frame vectors into intervals of `poolMs` by frame centre time (see ACOUSTIC_FEATURES). */
export function poolFrames(frames: Float32Array, n: number, hopMs: number, frameMs: number, poolMs: number): { pooled: number[][]; pooledStartS: number[] } {
  const pooled: number[][] = [];
  const pooledStartS: number[] = [];
  let k = 0;
  while (k < n) {
    const p = Math.floor((k * hopMs + frameMs / 2) / poolMs);
    let end = k;
    while (end < n && Math.floor((end * hopMs + frameMs / 2) / poolMs) === p) end++;
    pooled.push(poolRange(frames, k, end));
    pooledStartS.push((p * poolMs) / 1000);
    k = end;
  }
  return { pooled, pooledStartS };
}

function poolRange(frames: Float32Array, from: number, to: number): number[] {
  const D = ACOUSTIC_FRAME_DIM;
  const count = to - from;
  const v = new Array<number>(ACOUSTIC_DIM).fill(0);
  const meanStd = (col: number): [number, number] => {
    let s = 0;
    let s2 = 0;
    for (let k = from; k < to; k++) {
      const x = frames[k * D + col]!;
      s += x;
      s2 += x * x;
    }
    const m = s / count;
    return [m, Math.sqrt(Math.max(0, s2 / count - m * m))];
  };
  for (let c = 0; c < 13; c++) {
    const [m, s] = meanStd(c);
    v[c] = m;
    v[13 + c] = s;
  }
  [v[26], v[27]] = meanStd(F.logEnergy);
  let voiced = 0;
  let f = 0;
  let f2 = 0;
  for (let k = from; k < to; k++) {
    if (frames[k * D + F.voiced]! > 0) {
      const x = frames[k * D + F.f0]!;
      voiced++;
      f += x;
      f2 += x * x;
    }
  }
  if (voiced > 0) {
    v[28] = f / voiced;
    v[29] = Math.sqrt(Math.max(0, f2 / voiced - (f / voiced) ** 2));
  }
  v[30] = voiced / count;
  v[31] = meanStd(F.voicing)[0];
  v[32] = meanStd(F.centroid)[0];
  v[33] = meanStd(F.flatness)[0];
  v[34] = meanStd(F.rolloff)[0];
  v[35] = meanStd(F.zcr)[0];
  return v;
}

/** Summary used by `msa features`: voiced fraction and median F0 over voiced frames. */
export function pitchSummary(features: AcousticFeatures): { voicedFraction: number; f0MedianHz: number | null } {
  const f0s: number[] = [];
  for (let k = 0; k < features.frameCount; k++) {
    const o = k * ACOUSTIC_FRAME_DIM;
    if (features.frames[o + F.voiced]! > 0) f0s.push(features.frames[o + F.f0]!);
  }
  return { voicedFraction: features.frameCount > 0 ? f0s.length / features.frameCount : 0, f0MedianHz: median(f0s) };
}

let shared: AcousticExtractor | undefined;

/** Features of `pcm` with default settings at `sampleRate` (the extractor is cached). */
export function extractAcoustic(pcm: Float32Array, sampleRate = 16000): AcousticFeatures {
  if (!shared || shared.sampleRate !== sampleRate) shared = new AcousticExtractor({ sampleRate });
  return shared.extract(pcm);
}
