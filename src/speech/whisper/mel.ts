/**
 * Whisper's log-mel features, the recipe of faster-whisper 1.2.1 (training/whisper/CONTRACT.md
 * section 5; Python reference training/whisper/mel.py), so the encoder sees what CTranslate2 sees.
 *
 * For a 16 kHz mono signal x of N samples: x' = x + 160 zeros; frames i = 0 .. N/160 (floor) of
 * 400 samples centred on 160 i with reflect padding, periodic Hann window, power spectrum of a
 * 400-point DFT (201 bins), slaney mel filters [80, 201], log10(max(mel, 1e-10)), clamped to
 * (max over ALL frames) - 8, then (L + 4) / 4; the last frame is dropped (it only counts for the
 * max), leaving N/160 content frames.
 */

export const SAMPLE_RATE = 16000;
export const N_FFT = 400;
export const HOP = 160;
export const N_MELS = 80;
/** Frames of one 30-s window, the encoder's longest input. */
export const N_FRAMES_30S = 3000;
const N_BINS = N_FFT / 2 + 1;

/** Log-mel of one signal: `data` is [80, frames] row-major (bin-major: data[bin * frames + frame]). */
export interface LogMel {
  data: Float32Array;
  frames: number;
  /** Step 4's m: log10 of the largest mel value over all N/160 + 1 frames. */
  log10Max: number;
}

/**
 * Slaney mel filters [n_mels, 201] (row-major), as librosa.filters.mel(sr=16000, n_fft=400,
 * n_mels=80) with htk=False, norm="slaney": linear below 1 kHz, logarithmic above, each
 * triangle scaled to unit area.
 */
export function melFilters(nMels: number = N_MELS, sr: number = SAMPLE_RATE, nFft: number = N_FFT): Float64Array {
  const nBins = Math.floor(nFft / 2) + 1;
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  const maxMel = minLogMel + Math.log(sr / 2 / minLogHz) / logStep;
  const freqs = new Float64Array(nMels + 2);
  for (let i = 0; i < nMels + 2; i++) {
    const mel = (maxMel * i) / (nMels + 1);
    freqs[i] = mel >= minLogMel ? minLogHz * Math.exp(logStep * (mel - minLogMel)) : fSp * mel;
  }
  const out = new Float64Array(nMels * nBins);
  for (let m = 0; m < nMels; m++) {
    const lo = freqs[m]!;
    const mid = freqs[m + 1]!;
    const hi = freqs[m + 2]!;
    const enorm = 2 / (hi - lo);
    for (let k = 0; k < nBins; k++) {
      const f = (k * sr) / nFft;
      const lower = (f - lo) / (mid - lo);
      const upper = (hi - f) / (hi - mid);
      out[m * nBins + k] = Math.max(0, Math.min(lower, upper)) * enorm;
    }
  }
  return out;
}

/**
 * Real-input DFT of a fixed length n = 2^a * m (m odd): radix-2 decimation in time down to
 * length m, then direct DFTs of length m. Whisper's n = 400 = 16 * 25 is no power of two, so the
 * project's radix-2 Fft (src/features/acoustic/fft.ts) cannot do it and fft.js is radix-2/4 only;
 * this costs 16 DFTs of 25 points plus four butterfly levels, about 10x less than a direct
 * 400-point DFT, with one table of twiddles.
 */
export class RealDft {
  readonly size: number;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`DFT size must be a positive integer, got ${size}`);
    this.size = size;
    this.cos = new Float64Array(size);
    this.sin = new Float64Array(size);
    for (let j = 0; j < size; j++) {
      this.cos[j] = Math.cos((2 * Math.PI * j) / size);
      this.sin[j] = -Math.sin((2 * Math.PI * j) / size);
    }
    this.re = new Float64Array(size);
    this.im = new Float64Array(size);
  }

  /** |X[k]|^2 for k = 0 .. n/2 into `power` (length at least n/2 + 1). */
  powerSpectrum(input: Float64Array, power: Float64Array): void {
    this.rec(input, 0, 1, this.size, 0);
    const half = Math.floor(this.size / 2);
    for (let k = 0; k <= half; k++) power[k] = this.re[k]! * this.re[k]! + this.im[k]! * this.im[k]!;
  }

  /** DFT of input[offset + j * stride], j < len, into re/im[out .. out + len). */
  private rec(input: Float64Array, offset: number, stride: number, len: number, out: number): void {
    const { re, im, cos, sin, size } = this;
    const step = size / len; // twiddle W_len^j = W_size^(j * step)
    if (len % 2 === 1) {
      for (let k = 0; k < len; k++) {
        let sr = 0;
        let si = 0;
        for (let j = 0, idx = 0; j < len; j++) {
          const x = input[offset + j * stride]!;
          sr += x * cos[idx]!;
          si += x * sin[idx]!;
          idx += k * step;
          if (idx >= size) idx %= size;
        }
        re[out + k] = sr;
        im[out + k] = si;
      }
      return;
    }
    const half = len / 2;
    this.rec(input, offset, stride * 2, half, out);
    this.rec(input, offset + stride, stride * 2, half, out + half);
    for (let k = 0; k < half; k++) {
      const c = cos[k * step]!;
      const s = sin[k * step]!;
      const or = re[out + half + k]!;
      const oi = im[out + half + k]!;
      const tr = or * c - oi * s;
      const ti = or * s + oi * c;
      const er = re[out + k]!;
      const ei = im[out + k]!;
      re[out + k] = er + tr;
      im[out + k] = ei + ti;
      re[out + half + k] = er - tr;
      im[out + half + k] = ei - ti;
    }
  }
}

let filters: Float64Array | undefined;
let dft: RealDft | undefined;
let window: Float64Array | undefined;

/** Content frames of a signal of n samples: n / 160, rounded down. */
export function contentFrames(samples: number): number {
  return Math.floor(samples / HOP);
}

/**
 * Log-mel features of a 16 kHz mono signal in [-1, 1] (steps 1-5). The signal must hold at least
 * one content frame (160 samples); the dynamic-range clamp uses the max over this signal only.
 * `keepLast`: keep all N / 160 + 1 frames, as faster-whisper's FeatureExtractor returns them (the
 * voice reader's training input; the recogniser drops the last one, step 5).
 */
export function logMel(signal: Float32Array, options: { keepLast?: boolean } = {}): LogMel {
  const n = signal.length;
  if (n < HOP) throw new RangeError(`logMel needs at least ${HOP} samples (10 ms at 16 kHz), got ${n}`);
  filters ??= melFilters();
  dft ??= new RealDft(N_FFT);
  window ??= Float64Array.from({ length: N_FFT }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / N_FFT));
  const padded = n + HOP; // x' = x followed by 160 zeros
  const at = (i: number): number => {
    // numpy "reflect" (edge not repeated) at both ends of x'; valid since x' is longer than 200
    const j = i < 0 ? -i : i >= padded ? 2 * (padded - 1) - i : i;
    return j < n ? signal[j]! : 0;
  };
  const allFrames = contentFrames(n) + 1;
  const frames = options.keepLast ? allFrames : allFrames - 1;
  const logs = new Float32Array(N_MELS * allFrames);
  const frame = new Float64Array(N_FFT);
  const power = new Float64Array(N_BINS);
  let max = -Infinity;
  for (let f = 0; f < allFrames; f++) {
    const start = f * HOP - N_FFT / 2;
    for (let i = 0; i < N_FFT; i++) frame[i] = at(start + i) * window[i]!;
    dft.powerSpectrum(frame, power);
    for (let m = 0; m < N_MELS; m++) {
      let sum = 0;
      const row = m * N_BINS;
      for (let k = 0; k < N_BINS; k++) sum += filters[row + k]! * power[k]!;
      const l = Math.log10(Math.max(sum, 1e-10));
      logs[m * allFrames + f] = l;
      if (l > max) max = l;
    }
  }
  const floor = max - 8;
  const data = new Float32Array(N_MELS * frames);
  for (let m = 0; m < N_MELS; m++) {
    for (let f = 0; f < frames; f++) data[m * frames + f] = (Math.max(logs[m * allFrames + f]!, floor) + 4) / 4;
  }
  return { data, frames, log10Max: max };
}

/**
 * Encoder length T for an utterance of `content` frames: content + margin rounded up to a
 * multiple of `multiple` (even: one encoder position is 2 frames), at least `multiple`, at most 3000.
 */
export function trimmedFrames(content: number, multiple = 100, margin = 0): number {
  if (!Number.isSafeInteger(multiple) || multiple < 2 || multiple % 2 !== 0) throw new RangeError(`multiple must be an even integer >= 2, got ${multiple}`);
  if (!Number.isSafeInteger(margin) || margin < 0) throw new RangeError(`margin must be a non-negative integer, got ${margin}`);
  const t = Math.ceil((content + margin) / multiple) * multiple;
  return Math.min(Math.max(t, multiple), N_FRAMES_30S);
}

/**
 * Copies frames [start, start + T) of `mel` (those that exist) into `out` at row-major
 * [80, T] offset `outOffset`; frames past the end stay 0.0 (the normalised value, section 5 step 6).
 * `out` must be zero where nothing is copied.
 */
export function copyFrames(mel: LogMel, start: number, t: number, out: Float32Array, outOffset: number): void {
  const count = Math.max(0, Math.min(t, mel.frames - start));
  for (let m = 0; m < N_MELS; m++) {
    const from = m * mel.frames + start;
    out.set(mel.data.subarray(from, from + count), outOffset + m * t);
  }
}
