/**
 * Streaming sample-rate conversion of mono float PCM: the Speex resampler (speexdsp's
 * `resample.c`, compiled to WASM by `@echogarden/speex-resampler-wasm`). This file is the only
 * importer of that package.
 *
 * One `StreamingResampler` per stream: its filter history carries across `push` calls, so a
 * signal cut into chunks of any length gives the same samples as in one piece (no click or gap
 * at chunk edges; a test checks it).
 *
 * Timing: output sample j is the signal at time j / outRate, as input sample i is at i / inRate
 * (the filter's leading zeros are skipped: a 220 Hz sine comes out within 1e-6 of the ideal one,
 * no measurable time shift). What the filter does delay is availability: it holds back `delay`
 * output samples (half its length; into 16 kHz at the default quality: 80 = 5 ms from 48 or
 * 44.1 kHz, 160 = 10 ms from 8 kHz) until later input arrives; `flush()` gives them at the end
 * of the stream (the signal followed by silence).
 *
 * Memory: each stream's state (filter table and history, a few KB; ~30 KB for 44.1 kHz, whose
 * 441:160 ratio needs an interpolated table) lives in the WASM heap, shared by all streams:
 * `dispose()` frees it, and a stream dropped without it leaks (`StreamingResampler.live` counts
 * the undisposed ones). The module (30 KB) is instantiated once, when this file is first imported.
 *
 * Why not libsamplerate-js: its 2.1.2 build is wasm2js (plain JS) with one global converter and
 * two 4 MB buffers per module copy, so each stream instantiates the whole module (25 MB of
 * ArrayBuffer, ~9 ms), and only asynchronously, where the pipeline's audio stage is synchronous.
 */
// @ts-expect-error -- the package ships no type declarations; SpeexModule below types what is used.
import loadSpeexSimd from '@echogarden/speex-resampler-wasm/simd';
// @ts-expect-error -- as above (the build without WASM SIMD, for a runtime that lacks it).
import loadSpeexPlain from '@echogarden/speex-resampler-wasm';
import { concatFloat32 } from '../../arrays.js';

/** The parts of the Emscripten module used here (speexdsp's C API, pointers as numbers). */
interface SpeexModule {
  HEAPF32: Float32Array;
  HEAPU32: Uint32Array;
  HEAP32: Int32Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  _speex_resampler_init(channels: number, inRate: number, outRate: number, quality: number, errPtr: number): number;
  _speex_resampler_skip_zeros(state: number): number;
  _speex_resampler_get_output_latency(state: number): number;
  _speex_resampler_get_input_latency(state: number): number;
  _speex_resampler_process_float(state: number, channel: number, inPtr: number, inLenPtr: number, outPtr: number, outLenPtr: number): number;
  _speex_resampler_destroy(state: number): void;
}

type SpeexFactory = () => Promise<SpeexModule>;

async function loadSpeex(): Promise<SpeexModule> {
  try {
    return await (loadSpeexSimd as SpeexFactory)();
  } catch {
    return (loadSpeexPlain as SpeexFactory)();
  }
}

const speex = await loadSpeex();

/** speexdsp's error codes (RESAMPLER_ERR_*). */
const SPEEX_ERRORS = ['success', 'allocation failed', 'bad resampler state', 'invalid argument', 'input and output buffers overlap', 'overflow'];

/**
 * Speex quality, 0 (fastest) .. 10 (best). 8: cutoff at 96 % of the output Nyquist rate, ~100 dB
 * stop band; against ffmpeg's own 16 kHz decode of real 44.1 kHz speech, every frame feature but
 * spectral flatness is within 6 % of its spread (flatness 11 %; quality 10 brings it to 5 % at
 * about 3x the cost). Cost at 8, one busy core: ~1.4 ms per second of 48 kHz audio, ~5 ms for
 * 44.1 kHz, ~0.5 ms for 8 kHz.
 */
export const DEFAULT_RESAMPLER_QUALITY = 8;

/** Input samples handed to the WASM side at once (bounds the scratch buffers). */
const PIECE = 16_384;

export interface StreamingResamplerOptions {
  /** Speex quality, 0..10 (default DEFAULT_RESAMPLER_QUALITY). */
  quality?: number;
}

/**
 * Resamples one mono stream from `inRate` to `outRate` (integers, Hz), keeping the filter state
 * between calls.
 *
 * @example
 * const r = new StreamingResampler(48_000, 16_000);
 * try {
 *   for (const chunk of chunks) send(r.push(chunk));
 *   send(r.flush());
 * } finally {
 *   r.dispose();
 * }
 */
export class StreamingResampler {
  /** Resamplers constructed and not yet disposed, in this process. */
  static get live(): number {
    return live;
  }

  readonly inRate: number;
  readonly outRate: number;
  /** Output samples held back at any time until later input arrives (half the filter, in output samples). */
  readonly delay: number;
  private state: number;
  private readonly inputLatency: number;
  /** Input samples pushed, output samples given. */
  private consumed = 0;
  private produced = 0;
  private flushed = false;

  constructor(inRate: number, outRate: number, options: StreamingResamplerOptions = {}) {
    const quality = options.quality ?? DEFAULT_RESAMPLER_QUALITY;
    for (const [name, rate] of [
      ['inRate', inRate],
      ['outRate', outRate],
    ] as const) {
      if (!Number.isInteger(rate) || rate < 1 || rate > 1_000_000)
        throw new RangeError(`StreamingResampler: ${name} must be an integer in 1..1000000 Hz, got ${rate}`);
    }
    if (!Number.isInteger(quality) || quality < 0 || quality > 10)
      throw new RangeError(`StreamingResampler: quality must be an integer in 0..10, got ${quality}`);
    const errPtr = scratch.lengths; // the first length slot doubles as the error out-parameter
    this.state = speex._speex_resampler_init(1, inRate, outRate, quality, errPtr);
    const err = speex.HEAP32[errPtr >> 2]!;
    if (this.state === 0 || err !== 0)
      throw new Error(`StreamingResampler: speex_resampler_init(${inRate} -> ${outRate} Hz, quality ${quality}) failed: ${SPEEX_ERRORS[err] ?? err}`);
    speex._speex_resampler_skip_zeros(this.state);
    this.inRate = inRate;
    this.outRate = outRate;
    this.delay = speex._speex_resampler_get_output_latency(this.state);
    this.inputLatency = speex._speex_resampler_get_input_latency(this.state);
    live++;
  }

  /** Resamples the next samples of the stream; returns the output they complete (a fresh array, possibly empty). */
  push(pcm: Float32Array): Float32Array {
    this.check('push');
    this.consumed += pcm.length;
    return this.process(pcm, pcm.length);
  }

  /**
   * Ends the stream: returns the samples still held back, the signal followed by silence, up to
   * ceil(pushed x outRate / inRate) samples in all. Nothing may be pushed after it.
   */
  flush(): Float32Array {
    this.check('flush');
    this.flushed = true;
    const total = Math.ceil((this.consumed * this.outRate) / this.inRate);
    const before = this.produced;
    const parts: Float32Array[] = [];
    // Zeros through the filter's right half; one round suffices, the bound guards a speex surprise.
    for (let round = 0; round < 4 && this.produced < total; round++) parts.push(this.process(null, this.inputLatency + 1));
    const rest = concatFloat32(parts).subarray(0, Math.max(0, total - before));
    this.produced = before + rest.length;
    return rest;
  }

  /** Frees the stream's state in the WASM heap. Idempotent. */
  dispose(): void {
    if (this.state === 0) return;
    speex._speex_resampler_destroy(this.state);
    this.state = 0;
    live--;
  }

  get disposed(): boolean {
    return this.state === 0;
  }

  private check(what: string): void {
    if (this.state === 0) throw new Error(`StreamingResampler (${this.inRate} -> ${this.outRate} Hz): ${what} after dispose()`);
    if (this.flushed)
      throw new Error(`StreamingResampler (${this.inRate} -> ${this.outRate} Hz): ${what} after flush(); start a new resampler for a new stream`);
  }

  /** Runs `length` input samples (`pcm`, or zeros when null) through the filter. */
  private process(pcm: Float32Array | null, length: number): Float32Array {
    let out: Float32Array = new Float32Array(Math.ceil((length * this.outRate) / this.inRate) + this.delay + 2);
    let n = 0;
    for (let at = 0; at < length;) {
      const piece = Math.min(PIECE, length - at);
      const capacity = Math.ceil((piece * this.outRate) / this.inRate) + this.delay + 2;
      if (out.length - n < capacity) out = grow(out, n + capacity);
      const { inPtr, outPtr } = reserve(piece, capacity);
      if (pcm) speex.HEAPF32.set(pcm.subarray(at, at + piece), inPtr >> 2);
      const lengths = scratch.lengths >> 2;
      speex.HEAPU32[lengths] = piece;
      speex.HEAPU32[lengths + 1] = capacity;
      // A null input pointer makes speex read zeros.
      const err = speex._speex_resampler_process_float(this.state, 0, pcm ? inPtr : 0, scratch.lengths, outPtr, scratch.lengths + 4);
      if (err !== 0)
        throw new Error(`StreamingResampler (${this.inRate} -> ${this.outRate} Hz): speex_resampler_process_float failed: ${SPEEX_ERRORS[err] ?? err}`);
      const used = speex.HEAPU32[lengths]!;
      const made = speex.HEAPU32[lengths + 1]!;
      if (used === 0 && made === 0) throw new Error(`StreamingResampler (${this.inRate} -> ${this.outRate} Hz): speex took no input and gave no output`);
      out.set(speex.HEAPF32.subarray(outPtr >> 2, (outPtr >> 2) + made), n);
      n += made;
      at += used;
    }
    this.produced += n;
    return out.subarray(0, n);
  }
}

let live = 0;

/** Input / output buffers and the two length slots in the WASM heap, shared by all resamplers (calls are synchronous). */
const scratch = { inPtr: 0, inCapacity: 0, outPtr: 0, outCapacity: 0, lengths: speex._malloc(8) };

function reserve(inSamples: number, outSamples: number): { inPtr: number; outPtr: number } {
  if (scratch.inCapacity < inSamples) {
    speex._free(scratch.inPtr);
    scratch.inCapacity = Math.max(inSamples, PIECE);
    scratch.inPtr = speex._malloc(scratch.inCapacity * 4);
  }
  if (scratch.outCapacity < outSamples) {
    speex._free(scratch.outPtr);
    scratch.outCapacity = Math.max(outSamples, PIECE);
    scratch.outPtr = speex._malloc(scratch.outCapacity * 4);
  }
  if (scratch.inPtr === 0 || scratch.outPtr === 0 || scratch.lengths === 0) throw new Error('StreamingResampler: out of WASM memory for the sample buffers');
  return { inPtr: scratch.inPtr, outPtr: scratch.outPtr };
}

function grow(a: Float32Array, length: number): Float32Array {
  const out = new Float32Array(Math.max(length, a.length * 2));
  out.set(a);
  return out;
}
