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
 * A frame belongs to the chunk that completed it (a WeakMap keyed by the chunk object, freed with
 * the chunk once its windows are gone) and carries the event time of its centre, counted from
 * that chunk's eventTime (no drift over long streams). A window therefore lacks the few frames
 * centred in its last ~33 ms whose completing chunk lies after its end (about 3 of 600 frames).
 *
 * A chunk that does not continue the previous one (gap or overlap above `maxGapMs`, another sample
 * rate) restarts the session's stream: frames never span a gap. Only 16 kHz S16LE is analysed,
 * the rate the codebooks were fitted at; other rates are counted as unsupported (no resampling).
 */
import { AcousticExtractor, ACOUSTIC_FRAME_DIM } from '../features/acoustic/index.js';
import type { AudioChunk } from '../schemas/records.js';

/** The sample rate of the features (and of the codebooks fitted on them). */
export const FEATURE_SAMPLE_RATE = 16_000;

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
  /** Time spent computing frames (ms). */
  extractMs: number;
}

interface SessionStream {
  sampleRate: number;
  /** Samples from absolute index `bufferStart` to `end`. */
  buffer: Float32Array;
  bufferStart: number;
  /** Absolute index one past the last sample received. */
  end: number;
  /** Absolute index where the next frame starts (a multiple of the hop). */
  nextFrame: number;
  /** Event time (ms) where the next chunk should start. */
  nextEventTime: number;
}

export class AcousticFrameStream {
  readonly stats: AcousticStreamStats = { chunks: 0, frames: 0, restarts: 0, unsupported: { 'sample-rate': 0, encoding: 0 }, extractMs: 0 };
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
   * per second of audio). Returns why the chunk cannot be analysed, or null.
   */
  accept(chunk: AudioChunk): AudioUnsupported | null {
    if (chunk.encoding !== 'S16LE') return this.unsupported('encoding');
    if (chunk.sampleRate !== FEATURE_SAMPLE_RATE) return this.unsupported('sample-rate');
    this.stats.chunks++;
    const pcm = s16ToFloat(chunk.samples);
    const s = this.streamFor(chunk);
    const chunkStart = s.end;
    s.buffer = concat(s.buffer, pcm);
    s.end += pcm.length;
    s.nextEventTime = chunk.eventTime + (pcm.length * 1000) / chunk.sampleRate;

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
      const msPerSample = 1000 / chunk.sampleRate;
      for (let k = 0; k < count; k++) times[k] = chunk.eventTime + (s.nextFrame + k * hop + frameLen / 2 - chunkStart) * msPerSample;
      this.byChunk.set(chunk, { times, frames });
      this.stats.frames += count;
      s.nextFrame += count * hop;
      this.stats.extractMs += performance.now() - t0;
    }
    if (chunk.endOfStream) {
      this.sessions.delete(chunk.sessionId);
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
    this.sessions.delete(sessionId);
  }

  get openSessions(): number {
    return this.sessions.size;
  }

  private unsupported(reason: AudioUnsupported): AudioUnsupported {
    this.stats.unsupported[reason]++;
    return reason;
  }

  /** The session's stream if the chunk continues it, else a fresh one; most recently fed last (LRU). */
  private streamFor(chunk: AudioChunk): SessionStream {
    const s = this.sessions.get(chunk.sessionId);
    this.sessions.delete(chunk.sessionId);
    if (s && s.sampleRate === chunk.sampleRate && Math.abs(chunk.eventTime - s.nextEventTime) <= this.maxGapMs) {
      this.sessions.set(chunk.sessionId, s);
      return s;
    }
    if (s) this.stats.restarts++;
    const fresh: SessionStream = { sampleRate: chunk.sampleRate, buffer: new Float32Array(0), bufferStart: 0, end: 0, nextFrame: 0, nextEventTime: chunk.eventTime };
    this.sessions.set(chunk.sessionId, fresh);
    if (this.sessions.size > this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    return fresh;
  }
}

/** S16LE bytes -> floats in [-1, 1) as ffmpeg's s16 -> flt conversion (x / 32768); an odd last byte is ignored. */
export function s16ToFloat(bytes: Buffer): Float32Array {
  const n = bytes.length >> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = bytes.readInt16LE(i * 2) / 32768;
  return out;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length === 0) return b;
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
