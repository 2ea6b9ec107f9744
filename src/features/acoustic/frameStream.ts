/**
 * Acoustic frames of a live audio stream, computed once per audio chunk as it arrives, with the
 * same extractor and the same numbers as `msa featurize` computes on a whole file.
 *
 * Per session the stream keeps the samples it still needs: a frame (25 ms, 10 ms hop) is computed
 * once the samples up to RIGHT_CONTEXT past its end have arrived (YIN on the decimated copy looks
 * about 8 ms past the frame), with LEFT_CONTEXT samples before it, so each frame sees exactly the
 * samples the offline extractor would see: the frames of a stream cut into chunks of any length
 * (20 ms or 200 ms) equal, bit for bit, the frames of the whole signal (a test checks it).
 *
 * Features are computed at 16 kHz, the rate the codebooks were fitted at. A session sending another
 * rate in RESAMPLED_RATES (8 kHz telephony, 44.1 / 48 kHz browsers) keeps a streaming resampler
 * (features/acoustic/resample.ts) that carries its filter state from chunk to chunk, so its frames
 * are those of the whole signal resampled in one piece. Rates outside that range, and encodings
 * other than S16LE, are counted as unsupported (`stats.unsupported`) and not analysed.
 *
 * A frame belongs to the chunk that completed it (a WeakMap keyed by the chunk object, freed with
 * the chunk once its windows are gone) and carries the event time of its centre, counted from
 * that chunk's eventTime (no drift over long streams): positions on the 16 kHz time line are
 * input samples x 16000 / rate, and the resampler's output is aligned to its input (its delay
 * holds samples back, it does not shift them), so frame times do not depend on the rate. A window
 * lacks the few frames centred in its last ~33 ms whose completing chunk lies after its end
 * (about 3 of 600 frames); resampled, the resampler's delay adds 5 ms (10 ms from 8 kHz) to that.
 *
 * A chunk that does not continue the previous one (gap or overlap above `maxGapMs`, another sample
 * rate) restarts the session's stream: frames never span a gap, and the old stream's resampler is
 * freed, as it is when the session ends (`endOfStream`, which also flushes it), expires (`end`),
 * is dropped for `maxSessions`, or the stage is torn down (`endAll`).
 */
import { AcousticExtractor, ACOUSTIC_FRAME_DIM, StreamingResampler } from './index.js';
import type { AudioChunk } from '../../schemas/records.js';
import { concatFloat32 } from '../../arrays.js';

/** The sample rate of the features (and of the codebooks fitted on them). */
export const FEATURE_SAMPLE_RATE = 16_000;

/** Sample rates (integers, Hz) resampled to FEATURE_SAMPLE_RATE; others are unsupported. */
export const RESAMPLED_RATES = { min: 8_000, max: 96_000 } as const;

/** Whether audio at `sampleRate` is analysed (at 16 kHz, or resampled to it). */
export function isAnalysedRate(sampleRate: number): boolean {
  return Number.isInteger(sampleRate) && sampleRate >= RESAMPLED_RATES.min && sampleRate <= RESAMPLED_RATES.max;
}

/** Acoustic frames completed by one audio chunk. */
export interface ChunkFrames {
  /** Event time (epoch ms, fractional) of each frame's centre. */
  times: Float64Array;
  /** times.length x ACOUSTIC_FRAME_DIM, row-major (ACOUSTIC_FRAME_FEATURES). */
  frames: Float32Array;
}

export type AudioUnsupported = 'sample-rate' | 'encoding';

export interface AcousticStreamOptions {
  /** Largest jump (ms) between a chunk's eventTime and where the previous chunk ended that still counts as continuous (default 20). */
  maxGapMs?: number;
  /** Sessions whose stream state is kept at once; the least recently fed is dropped beyond (default 10 000). */
  maxSessions?: number;
}

export interface AcousticStreamStats {
  chunks: number;
  frames: number;
  /** Chunks that did not continue their session's stream (the stream restarted). */
  restarts: number;
  unsupported: Record<AudioUnsupported, number>;
  /** Chunks resampled to 16 kHz (counted in `chunks` too). */
  resampled: number;
  /** Time spent computing frames (ms). */
  extractMs: number;
  /** Time spent resampling (ms). */
  resampleMs: number;
}

interface SessionStream {
  /** The input's rate. */
  sampleRate: number;
  /** Converts the input to FEATURE_SAMPLE_RATE; null when it is at that rate. */
  resampler: StreamingResampler | null;
  /** Input samples received (at `sampleRate`). */
  received: number;
  /** 16 kHz samples from absolute index `bufferStart` to `end`. */
  buffer: Float32Array;
  bufferStart: number;
  /** Absolute index one past the last 16 kHz sample. */
  end: number;
  /** Absolute index where the next frame starts (a multiple of the hop). */
  nextFrame: number;
  /** Event time (ms) where the next chunk should start. */
  nextEventTime: number;
}

export class AcousticFrameStream {
  readonly stats: AcousticStreamStats = {
    chunks: 0,
    frames: 0,
    restarts: 0,
    unsupported: { 'sample-rate': 0, encoding: 0 },
    resampled: 0,
    extractMs: 0,
    resampleMs: 0,
  };
  private readonly extractor = new AcousticExtractor({ sampleRate: FEATURE_SAMPLE_RATE });
  private readonly byChunk = new WeakMap<AudioChunk, ChunkFrames>();
  private readonly sessions = new Map<string, SessionStream>();
  private readonly maxGapMs: number;
  private readonly maxSessions: number;
  /** Samples kept before the next frame and needed past a frame's end (multiples of the hop, >= what YIN reaches). */
  private readonly leftContext: number;
  private readonly rightContext: number;

  constructor(options: AcousticStreamOptions = {}) {
    this.maxGapMs = options.maxGapMs ?? 20;
    this.maxSessions = options.maxSessions ?? 10_000;
    // YIN (16 ms window, lags to 60 Hz, on a 4:1 decimated copy with 31-tap filters) reaches
    // ~109 samples before a frame and ~113 after it at 16 kHz; two hops (20 ms) cover both.
    this.leftContext = 2 * this.extractor.hop;
    this.rightContext = 2 * this.extractor.hop;
  }

  /**
   * Takes the next chunk of its session: computes the frames it completes (synchronously, ~3 ms
   * per second of audio, plus ~1 ms to resample 48 kHz). Returns why the chunk cannot be
   * analysed (a rate outside RESAMPLED_RATES, an encoding other than S16LE), or null.
   */
  accept(chunk: AudioChunk): AudioUnsupported | null {
    if (chunk.encoding !== 'S16LE') return this.unsupported('encoding');
    if (!isAnalysedRate(chunk.sampleRate)) return this.unsupported('sample-rate');
    this.stats.chunks++;
    const input = s16ToFloat(chunk.samples);
    const s = this.streamFor(chunk);
    // Where the chunk's first sample lies on the stream's 16 kHz time line (fractional when resampled).
    const chunkStart = (s.received * FEATURE_SAMPLE_RATE) / s.sampleRate;
    s.received += input.length;
    s.nextEventTime = chunk.eventTime + (input.length * 1000) / chunk.sampleRate;
    const pcm = s.resampler ? this.resample(s.resampler, input, chunk.endOfStream) : input;
    s.buffer = concatFloat32([s.buffer, pcm]);
    s.end += pcm.length;

    const { frameLen, hop } = this.extractor;
    // Whole frames with their right context (at the end of the stream: whole frames, zeros after, as offline).
    const reach = chunk.endOfStream ? frameLen : frameLen + this.rightContext;
    const count = s.end - reach < s.nextFrame ? 0 : Math.floor((s.end - reach - s.nextFrame) / hop) + 1;
    if (count > 0) {
      const t0 = performance.now();
      const from = Math.max(0, s.nextFrame - this.leftContext); // a multiple of the hop (and of the decimation)
      const to = Math.min(s.end, s.nextFrame + (count - 1) * hop + frameLen + this.rightContext);
      const features = this.extractor.extract(s.buffer.subarray(from - s.bufferStart, to - s.bufferStart));
      const skip = (s.nextFrame - from) / hop;
      const frames = features.frames.slice(skip * ACOUSTIC_FRAME_DIM, (skip + count) * ACOUSTIC_FRAME_DIM);
      const times = new Float64Array(count);
      const msPerSample = 1000 / FEATURE_SAMPLE_RATE;
      for (let k = 0; k < count; k++) times[k] = chunk.eventTime + (s.nextFrame + k * hop + frameLen / 2 - chunkStart) * msPerSample;
      this.byChunk.set(chunk, { times, frames });
      this.stats.frames += count;
      s.nextFrame += count * hop;
      this.stats.extractMs += performance.now() - t0;
    }
    if (chunk.endOfStream) {
      this.drop(chunk.sessionId);
    } else {
      const keepFrom = Math.max(0, s.nextFrame - this.leftContext);
      if (keepFrom > s.bufferStart) {
        s.buffer = s.buffer.slice(keepFrom - s.bufferStart);
        s.bufferStart = keepFrom;
      }
    }
    return null;
  }

  /** Frames the chunk completed (undefined when none, or when it was not analysed). */
  framesOf(chunk: AudioChunk): ChunkFrames | undefined {
    return this.byChunk.get(chunk);
  }

  /** Frees a session's stream state (its session expired). */
  end(sessionId: string): void {
    this.drop(sessionId);
  }

  /** Frees every session's stream state (the stage is torn down). */
  endAll(): void {
    for (const sessionId of [...this.sessions.keys()]) this.drop(sessionId);
  }

  get openSessions(): number {
    return this.sessions.size;
  }

  /** Sessions holding a resampler (its state lives in the WASM heap until the stream is dropped). */
  get openResamplers(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.resampler) n++;
    return n;
  }

  private unsupported(reason: AudioUnsupported): AudioUnsupported {
    this.stats.unsupported[reason]++;
    return reason;
  }

  /** The resampled chunk; at the end of the stream with the samples the filter still held. */
  private resample(resampler: StreamingResampler, input: Float32Array, endOfStream: boolean): Float32Array {
    const t0 = performance.now();
    const out = resampler.push(input);
    const pcm = endOfStream ? concatFloat32([out, resampler.flush()]) : out;
    this.stats.resampled++;
    this.stats.resampleMs += performance.now() - t0;
    return pcm;
  }

  /** The session's stream if the chunk continues it, else a fresh one; most recently fed last (LRU). */
  private streamFor(chunk: AudioChunk): SessionStream {
    const s = this.sessions.get(chunk.sessionId);
    if (s && s.sampleRate === chunk.sampleRate && Math.abs(chunk.eventTime - s.nextEventTime) <= this.maxGapMs) {
      this.sessions.delete(chunk.sessionId);
      this.sessions.set(chunk.sessionId, s);
      return s;
    }
    if (s) {
      this.stats.restarts++;
      this.drop(chunk.sessionId);
    }
    const fresh: SessionStream = {
      sampleRate: chunk.sampleRate,
      resampler: chunk.sampleRate === FEATURE_SAMPLE_RATE ? null : new StreamingResampler(chunk.sampleRate, FEATURE_SAMPLE_RATE),
      received: 0,
      buffer: new Float32Array(0),
      bufferStart: 0,
      end: 0,
      nextFrame: 0,
      nextEventTime: chunk.eventTime,
    };
    this.sessions.set(chunk.sessionId, fresh);
    if (this.sessions.size > this.maxSessions) this.drop(this.sessions.keys().next().value!);
    return fresh;
  }

  /** Forgets a session's stream and frees its resampler. */
  private drop(sessionId: string): void {
    this.sessions.get(sessionId)?.resampler?.dispose();
    this.sessions.delete(sessionId);
  }
}

/** S16LE bytes -> floats in [-1, 1) as ffmpeg's s16 -> flt conversion (x / 32768); an odd last byte is ignored. */
export function s16ToFloat(bytes: Buffer): Float32Array {
  const n = bytes.length >> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = bytes.readInt16LE(i * 2) / 32768;
  return out;
}
