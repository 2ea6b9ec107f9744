/**
 * Cuts a 16 kHz mono stream into utterances from VAD speech probabilities, one per 512-sample
 * chunk (Silero's rules, streaming):
 * - speech starts at the first chunk with probability >= `threshold`;
 * - it ends once the probability stayed below `threshold - 0.15` for `minSilenceMs` (a chunk at
 *   or above `threshold` cancels the silence); the utterance ends where that silence began;
 * - each utterance is padded by `speechPadMs` of the audio before and after it (never overlapping
 *   the previous utterance);
 * - an utterance reaching `maxUtteranceMs` is cut: at the start of the latest chunk below
 *   `threshold` in its second half, else right there; speech goes on in a new utterance, so a
 *   monologue yields text every few seconds;
 * - utterances whose speech (pads excluded) is shorter than `minSpeechMs` are dropped (counted);
 * - `flush()` at the end of the stream closes an utterance still open.
 *
 * `UtteranceCutter` is pure (probabilities in, utterances out); `UtteranceSegmenter` runs the VAD on
 * pushed audio and feeds the cutter.
 */
import { VAD_CHUNK, VAD_SAMPLE_RATE, type VadStream } from './vad.js';

export interface UtteranceOptions {
  threshold: number;
  minSilenceMs: number;
  speechPadMs: number;
  maxUtteranceMs: number;
  minSpeechMs: number;
}

export const DEFAULT_UTTERANCE_OPTIONS: UtteranceOptions = { threshold: 0.5, minSilenceMs: 500, speechPadMs: 200, maxUtteranceMs: 8000, minSpeechMs: 250 };

export interface Utterance {
  /** Stream time of the first sample (ms). */
  startMs: number;
  /** Stream time just after the last sample (ms). */
  endMs: number;
  /** 16 kHz mono samples. */
  samples: Float32Array;
}

/** Audio of the stream from some sample index on, appended at the end, dropped from the front. */
class SampleBuffer {
  private data = new Float32Array(VAD_SAMPLE_RATE);
  private length = 0;
  /** Stream index of data[0]. */
  start = 0;

  get end(): number {
    return this.start + this.length;
  }

  append(samples: Float32Array): void {
    if (this.length + samples.length > this.data.length) {
      const grown = new Float32Array(Math.max(this.data.length * 2, this.length + samples.length));
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    this.data.set(samples, this.length);
    this.length += samples.length;
  }

  /** Copy of stream samples [from, to), clamped to what is held. */
  slice(from: number, to: number): Float32Array {
    const a = Math.max(from, this.start) - this.start;
    const b = Math.min(to, this.end) - this.start;
    return this.data.slice(a, Math.max(a, b));
  }

  dropBefore(index: number): void {
    const n = Math.min(Math.max(0, index - this.start), this.length);
    if (n === 0) return;
    this.data.copyWithin(0, n, this.length);
    this.length -= n;
    this.start += n;
  }
}

export class UtteranceCutter {
  /** Utterances dropped as shorter than minSpeechMs. */
  dropped = 0;
  private readonly buffer = new SampleBuffer();
  private readonly opts: UtteranceOptions;
  private readonly pad: number;
  private readonly minSilence: number;
  private readonly maxLength: number;
  private readonly minSpeech: number;
  /** Stream index of the next chunk's first sample. */
  private position = 0;
  /** Set while in speech: where the current utterance starts (pad included) and its speech starts. */
  private start: number | null = null;
  private speechStart = 0;
  /** First sample of the current silence (probability below threshold - 0.15), if in one. */
  private silenceStart: number | null = null;
  /** Start of the latest chunk below threshold in the current utterance. */
  private lastLow: number | null = null;
  /** End of the last utterance emitted: the next one's pad does not reach before it. */
  private lastEnd = 0;

  /** @param origin stream time of sample 0 (ms) */
  constructor(
    options: Partial<UtteranceOptions> = {},
    private readonly origin = 0,
  ) {
    this.opts = { ...DEFAULT_UTTERANCE_OPTIONS, ...options };
    const { threshold, minSilenceMs, speechPadMs, maxUtteranceMs, minSpeechMs } = this.opts;
    if (!(threshold > 0.15 && threshold < 1)) throw new RangeError(`threshold must be in (0.15, 1), got ${threshold}`);
    for (const [name, v] of Object.entries({ minSilenceMs, speechPadMs, minSpeechMs })) {
      if (!(v >= 0)) throw new RangeError(`${name} must be >= 0, got ${v}`);
    }
    if (!(maxUtteranceMs >= 1000 && maxUtteranceMs <= 30_000)) throw new RangeError(`maxUtteranceMs must be in 1000..30000, got ${maxUtteranceMs}`);
    const samples = (ms: number): number => Math.round((ms * VAD_SAMPLE_RATE) / 1000);
    this.pad = samples(speechPadMs);
    this.minSilence = samples(minSilenceMs);
    this.maxLength = samples(maxUtteranceMs);
    this.minSpeech = samples(minSpeechMs);
  }

  /** One chunk (512 samples; the last of a stream may be shorter) and its speech probability. */
  push(chunk: Float32Array, probability: number): Utterance[] {
    const out: Utterance[] = [];
    const chunkStart = this.position;
    this.buffer.append(chunk);
    this.position += chunk.length;
    const { threshold } = this.opts;
    if (this.start === null) {
      if (probability >= threshold) {
        this.start = Math.max(chunkStart - this.pad, this.lastEnd, this.buffer.start);
        this.speechStart = chunkStart;
        this.silenceStart = null;
        this.lastLow = null;
      } else {
        this.buffer.dropBefore(this.position - this.pad);
        return out;
      }
    } else {
      if (probability >= threshold) this.silenceStart = null;
      else if (probability < threshold - 0.15 && this.silenceStart === null) this.silenceStart = chunkStart;
      if (probability < threshold) this.lastLow = chunkStart;
      if (this.silenceStart !== null && this.position - this.silenceStart >= this.minSilence) {
        this.emit(this.silenceStart, Math.min(this.silenceStart + this.pad, this.position), out);
        return out;
      }
    }
    if (this.position - this.start >= this.maxLength) {
      const half = this.start + this.maxLength / 2;
      const cut = this.lastLow !== null && this.lastLow > half ? this.lastLow : this.position;
      this.emit(cut, cut, out);
      // Speech goes on: a new utterance from the cut, no pad (it would repeat audio).
      this.start = cut;
      this.speechStart = cut;
      this.silenceStart = null;
      this.lastLow = null;
    }
    return out;
  }

  /** Stream time (ms) where the speech not yet cut into an utterance starts (pad included); null in silence. */
  openSinceMs(): number | null {
    return this.start === null ? null : this.timeMs(this.start);
  }

  /** The open utterance so far (pads included), as an interim hypothesis would hear it; null in silence. */
  openAudio(): Utterance | null {
    if (this.start === null) return null;
    return { startMs: this.timeMs(this.start), endMs: this.timeMs(this.position), samples: this.buffer.slice(this.start, this.position) };
  }

  /** End of stream: the open utterance, if any. */
  flush(): Utterance[] {
    const out: Utterance[] = [];
    if (this.start !== null) this.emit(this.silenceStart ?? this.position, this.position, out);
    return out;
  }

  /** Closes the current utterance: speech up to speechEnd, audio up to end. */
  private emit(speechEnd: number, end: number, out: Utterance[]): void {
    const start = this.start!;
    this.start = null;
    this.silenceStart = null;
    this.lastEnd = end;
    if (speechEnd - this.speechStart < this.minSpeech) this.dropped++;
    else out.push({ startMs: this.timeMs(start), endMs: this.timeMs(end), samples: this.buffer.slice(start, end) });
    this.buffer.dropBefore(Math.max(end, this.position - this.pad));
  }

  /** Stream time (ms) just after the last sample pushed. */
  positionMs(): number {
    return this.timeMs(this.position);
  }

  private timeMs(index: number): number {
    return this.origin + (index * 1000) / VAD_SAMPLE_RATE;
  }
}

/**
 * Runs a VAD stream over pushed 16 kHz audio and cuts it into utterances. The stream is taken as
 * contiguous: the first `push`'s `startMs` is its origin; later ones are not read.
 */
export class UtteranceSegmenter {
  private cutter: UtteranceCutter | null = null;
  private pending = new Float32Array(0);

  constructor(
    private readonly vad: VadStream,
    private readonly options: Partial<UtteranceOptions> = {},
  ) {}

  /** Utterances dropped as too short so far. */
  get dropped(): number {
    return this.cutter?.dropped ?? 0;
  }

  async push(samples: Float32Array, startMs?: number): Promise<Utterance[]> {
    this.cutter ??= new UtteranceCutter(this.options, startMs ?? 0);
    const probs = await this.vad.push(samples);
    const all = new Float32Array(this.pending.length + samples.length);
    all.set(this.pending);
    all.set(samples, this.pending.length);
    const out: Utterance[] = [];
    probs.forEach((p, i) => out.push(...this.cutter!.push(all.subarray(i * VAD_CHUNK, (i + 1) * VAD_CHUNK), p)));
    this.pending = all.slice(probs.length * VAD_CHUNK);
    return out;
  }

  /**
   * Stream time (ms) from which audio pushed may still become an utterance: the open speech's
   * start, or the partial chunk waiting for the VAD; null when everything pushed is decided.
   */
  openSinceMs(): number | null {
    const open = this.cutter?.openSinceMs() ?? null;
    if (open !== null || this.pending.length === 0 || this.cutter === null) return open;
    return this.cutter.positionMs() - (this.pending.length * 1000) / VAD_SAMPLE_RATE;
  }

  /** The open utterance so far (what the VAD has decided of it); null in silence. */
  openAudio(): Utterance | null {
    return this.cutter?.openAudio() ?? null;
  }

  async flush(): Promise<Utterance[]> {
    if (this.cutter === null) return [];
    const out: Utterance[] = [];
    const probs = await this.vad.flush();
    if (probs.length > 0) out.push(...this.cutter.push(this.pending, probs[0]!));
    this.pending = new Float32Array(0);
    out.push(...this.cutter.flush());
    return out;
  }
}
