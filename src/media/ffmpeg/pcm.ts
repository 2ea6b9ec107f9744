/** Mono PCM from ffmpeg: whole, or cut into fixed-length chunks stamped with their media time. */
import { concatFloat32 } from '../../arrays.js';
import { runFfmpeg, type MediaInput, type SourceOptions } from './process.js';

export interface AudioOptions extends SourceOptions {
  /** Output sample rate in Hz (default 16000). */
  sampleRate?: number;
}

export interface AudioStreamOptions extends AudioOptions {
  /** Length of each chunk in milliseconds (default 100); the last chunk may be shorter. */
  chunkMs?: number;
}

export interface AudioChunk<T extends Float32Array | Int16Array = Float32Array> {
  /** Media time of the chunk's first sample, seconds from the start of the decoded audio. */
  startS: number;
  sampleRate: number;
  samples: T;
}

export interface PcmFormat<T extends Float32Array | Int16Array> {
  name: 'f32le' | 's16le';
  bytesPerSample: number;
  view: (aligned: Uint8Array) => T;
}

const F32: PcmFormat<Float32Array> = { name: 'f32le', bytesPerSample: 4, view: (b) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) };
export const S16: PcmFormat<Int16Array> = { name: 's16le', bytesPerSample: 2, view: (b) => new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2) };

/** Decodes the whole audio track to mono float PCM in [-1, 1]. */
export async function decodeAudio(input: MediaInput, options: AudioOptions = {}): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for await (const chunk of streamAudio(input, { ...options, chunkMs: 1000 })) parts.push(chunk.samples);
  return concatFloat32(parts);
}

/** Mono float PCM in chunks of `chunkMs`, as ffmpeg decodes them (for live sources). */
export function streamAudio(input: MediaInput, options: AudioStreamOptions = {}): AsyncGenerator<AudioChunk<Float32Array>> {
  return pcmChunks(input, options, F32);
}

/** Mono signed 16-bit PCM chunks (the wire format of audio records). */
export function streamAudioS16(input: MediaInput, options: AudioStreamOptions = {}): AsyncGenerator<AudioChunk<Int16Array>> {
  return pcmChunks(input, options, S16);
}

async function* pcmChunks<T extends Float32Array | Int16Array>(
  input: MediaInput,
  options: AudioStreamOptions,
  format: PcmFormat<T>,
): AsyncGenerator<AudioChunk<T>> {
  const chunker = new PcmChunker(options, format);
  for await (const data of runFfmpeg(input, [chunker.outArgs], options, 'audio')) yield* chunker.push(data);
  yield* chunker.end();
}

/** Cuts ffmpeg's mono PCM into chunks of `chunkMs` stamped with their media time; the last may be shorter. */
export class PcmChunker<T extends Float32Array | Int16Array> {
  readonly outArgs: string[];
  private readonly sampleRate: number;
  private readonly chunkBytes: number;
  private pending: Buffer = Buffer.alloc(0);
  private emitted = 0;

  constructor(
    options: AudioStreamOptions,
    private readonly format: PcmFormat<T>,
  ) {
    this.sampleRate = options.sampleRate ?? 16000;
    const chunkMs = options.chunkMs ?? 100;
    if (!(this.sampleRate > 0) || !(chunkMs > 0)) throw new RangeError(`sampleRate (${this.sampleRate}) and chunkMs (${chunkMs}) must be positive`);
    this.chunkBytes = Math.max(1, Math.round((this.sampleRate * chunkMs) / 1000)) * format.bytesPerSample;
    this.outArgs = ['-vn', '-sn', '-dn', '-ac', '1', '-ar', String(this.sampleRate), '-f', format.name];
  }

  push(data: Buffer): AudioChunk<T>[] {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    const out: AudioChunk<T>[] = [];
    let offset = 0;
    for (; this.pending.length - offset >= this.chunkBytes; offset += this.chunkBytes)
      out.push(this.make(this.pending.subarray(offset, offset + this.chunkBytes)));
    this.pending = this.pending.subarray(offset);
    return out;
  }

  /** The last, shorter chunk (whole samples only). */
  end(): AudioChunk<T>[] {
    const rest = this.pending.length - (this.pending.length % this.format.bytesPerSample);
    const out = rest > 0 ? [this.make(this.pending.subarray(0, rest))] : [];
    this.pending = Buffer.alloc(0);
    return out;
  }

  private make(bytes: Buffer): AudioChunk<T> {
    // Copy into a fresh, aligned buffer: stream chunks may start at any byte offset.
    const aligned = new Uint8Array(bytes.byteLength);
    aligned.set(bytes);
    const chunk = { startS: this.emitted / this.sampleRate, sampleRate: this.sampleRate, samples: this.format.view(aligned) };
    this.emitted += chunk.samples.length;
    return chunk;
  }
}
