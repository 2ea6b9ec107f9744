/**
 * The ffmpeg adapter: the only module that spawns ffmpeg / ffprobe. It decodes any input ffmpeg
 * understands into mono PCM (whole or in fixed-length chunks) and RGB24 video frames, either one
 * modality per ffmpeg or both from one ffmpeg (`decodeAudioVideo`: one connection to a live source,
 * one read of stdin), and probes what an input holds.
 *
 * Inputs (`MediaInput`): a file path, a URL (http, rtmp, rtsp, ...), `-` for stdin (or a Buffer /
 * Readable passed as `stdin`), or `lavfi:<filtergraph>` for ffmpeg's built-in test sources, e.g.
 * `lavfi:testsrc=size=320x240:rate=10` or `lavfi:sine=frequency=220:duration=2`.
 *
 * Failures throw `MediaError` naming the input, a kind (`not-found`, `corrupt`, `unsupported-codec`,
 * `network`, `no-stream`, `limit`, `aborted`, `ffmpeg-missing`, `failed`) and the last lines of
 * ffmpeg's stderr. Work is bounded: `maxDurationS` cuts decoding at that much media time,
 * `maxInputBytes` refuses larger files or stdin streams, and the queues of `decodeAudioVideo` are
 * capped. Breaking out of an iterator kills ffmpeg (for `decodeAudioVideo`: out of both).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { concatFloat32 } from '../arrays.js';

export type MediaInput = string;

export type MediaErrorKind =
  | 'not-found'
  | 'corrupt'
  | 'unsupported-codec'
  | 'network'
  | 'no-stream'
  | 'limit'
  | 'aborted'
  | 'ffmpeg-missing'
  | 'failed';

export class MediaError extends Error {
  constructor(
    message: string,
    readonly kind: MediaErrorKind,
    readonly input: string,
    readonly stderrTail: string[] = [],
  ) {
    super(stderrTail.length > 0 ? `${message}\nffmpeg said:\n  ${stderrTail.join('\n  ')}` : message);
    this.name = 'MediaError';
  }
}

export interface SourceOptions {
  /** Data for input `-` (default: process.stdin). */
  stdin?: Buffer | Readable;
  /** Decode at most this much media time (seconds); the rest is not read. */
  maxDurationS?: number;
  /** Refuse a file or stdin stream larger than this many bytes. */
  maxInputBytes?: number;
  /** Read the input at its native rate (ffmpeg -re), for replaying files as live sources. */
  realtime?: boolean;
  /** Aborting kills ffmpeg and the iterator throws a MediaError of kind `aborted`. */
  signal?: AbortSignal;
  /** Binary to run (default `ffmpeg`; `ffprobe` is looked up beside it). */
  ffmpegPath?: string;
}

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

export interface VideoOptions extends SourceOptions {
  /** Frames per second to sample (default 5); frames are resampled by ffmpeg's fps filter. */
  fps?: number;
  /** Output width in pixels (default 320); height keeps the aspect ratio (rounded to even). */
  width?: number;
  /** Stop after this many frames. */
  maxFrames?: number;
}

export interface VideoFrame {
  /** Media time in seconds (frame index / fps). */
  time: number;
  index: number;
  width: number;
  height: number;
  /** RGB24, row-major, width * height * 3 bytes. */
  data: Uint8Array;
}

export interface ProbeResult {
  input: string;
  formatName: string;
  /** Seconds; null for endless sources (live streams, lavfi without duration). */
  durationS: number | null;
  hasAudio: boolean;
  hasVideo: boolean;
  audio?: { codec: string; sampleRate: number; channels: number };
  video?: { codec: string; width: number; height: number; fps: number | null };
}

export interface AudioVideoOptions extends AudioStreamOptions, Pick<VideoOptions, 'fps' | 'width'> {
  /** Media time (seconds) a stream may hold queued before its pipe is paused (default 5). */
  maxAheadS?: number;
  /** Bytes a stream may hold queued while the other is awaited before decoding fails (default 64 MiB). */
  maxQueueBytes?: number;
}

/** Both modalities of one input, from one ffmpeg; read both at once (as `mergeByTime` does). */
export interface AudioVideoStreams {
  audio: AsyncIterable<AudioChunk<Int16Array>>;
  video: AsyncIterable<VideoFrame>;
}

const STDERR_LINES = 8;
/** Stdin kept for a second ffmpeg when the first finds a stream missing (it fails after probing, ~5 MB). */
const MAX_STDIN_REPLAY_BYTES = 32 * 1024 * 1024;

/** Decodes the whole audio track to mono float PCM in [-1, 1]. */
export async function decodeAudio(input: MediaInput, options: AudioOptions = {}): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for await (const chunk of streamAudio(input, { ...options, chunkMs: 1000 })) parts.push(chunk.samples);
  return concatFloat32(parts);
}

interface PcmFormat<T extends Float32Array | Int16Array> {
  name: 'f32le' | 's16le';
  bytesPerSample: number;
  view: (aligned: Uint8Array) => T;
}

const F32: PcmFormat<Float32Array> = { name: 'f32le', bytesPerSample: 4, view: (b) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) };
const S16: PcmFormat<Int16Array> = { name: 's16le', bytesPerSample: 2, view: (b) => new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2) };

/** Mono float PCM in chunks of `chunkMs`, as ffmpeg decodes them (for live sources). */
export function streamAudio(input: MediaInput, options: AudioStreamOptions = {}): AsyncGenerator<AudioChunk<Float32Array>> {
  return pcmChunks(input, options, F32);
}

/** Mono signed 16-bit PCM chunks (the wire format of audio records). */
export function streamAudioS16(input: MediaInput, options: AudioStreamOptions = {}): AsyncGenerator<AudioChunk<Int16Array>> {
  return pcmChunks(input, options, S16);
}

async function* pcmChunks<T extends Float32Array | Int16Array>(input: MediaInput, options: AudioStreamOptions, format: PcmFormat<T>): AsyncGenerator<AudioChunk<T>> {
  const chunker = new PcmChunker(options, format);
  for await (const data of runFfmpeg(input, [chunker.outArgs], options, 'audio')) yield* chunker.push(data);
  yield* chunker.end();
}

/** RGB24 frames sampled at `fps`, scaled to `width` (aspect kept). A still image gives one frame. */
export async function* decodeVideoFrames(input: MediaInput, options: VideoOptions = {}): AsyncGenerator<VideoFrame> {
  const frames = new FrameReader(options);
  for await (const data of runFfmpeg(input, [frames.outArgs], options, 'video')) yield* frames.push(data);
}

/**
 * Audio (as `streamAudioS16`) and video frames (as `decodeVideoFrames`) of one input from ONE
 * ffmpeg: one connection to a live source, both modalities from the same start, stdin read once.
 * ffmpeg writes the audio to stdout and the PPM frames to fd 3; each stream picks the same input
 * stream as the one-modality decoders would (ffmpeg's default choice per output).
 *
 * Backpressure: ffmpeg blocks when either pipe is full, so both pipes are read at once into
 * queues. A pipe is paused when its queue holds more than `maxAheadS` of media time (or half of
 * `maxQueueBytes`), but never while the consumer waits on the other stream: ffmpeg may have to
 * write this one before it gets to the other. If a queue then grows past `maxQueueBytes`, the
 * audio and video are too far apart in the input (badly interleaved, or one stalls) and both
 * streams fail with a MediaError of kind `limit`.
 *
 * A missing modality: ffmpeg refuses an output without a stream before it decodes anything, so an
 * input with only audio or only video costs one extra open: the stream it lacks fails with kind
 * `no-stream` before any item, and the other is decoded by a second ffmpeg on its own (stdin is
 * replayed to it from what the first one read).
 *
 * Read each stream once, both at the same time (ingest merges them by media time); ffmpeg is
 * killed once both are done or broken out of, or on abort.
 *
 * Example:
 *   const { audio, video } = decodeAudioVideo('rtmp://host/live/key', { fps: 2, width: 320, signal });
 *   await Promise.all([send(audio), send(video)]); // or mergeByTime (ingest) for one ordered stream
 */
export function decodeAudioVideo(input: MediaInput, options: AudioVideoOptions = {}): AudioVideoStreams {
  const chunker = new PcmChunker(options, S16);
  const frames = new FrameReader(options);
  const limits = { maxAheadS: options.maxAheadS ?? 5, maxQueueBytes: options.maxQueueBytes ?? 64 * 1024 * 1024 };
  const replay = input === '-' && !Buffer.isBuffer(options.stdin) ? new StdinReplay(options.stdin ?? process.stdin) : null;
  let opened: Promise<{ pipes: PairedPipes<AudioChunk<Int16Array>, VideoFrame>; decoded: () => boolean }> | undefined;
  const open = async () => {
    const args = ffmpegArgs(input, [chunker.outArgs, frames.outArgs], options);
    const child = await startProcess(options.ffmpegPath ?? 'ffmpeg', args, input, options, 'audio and video', 2, replay?.first());
    let decoded = false;
    for (const pipe of child.outputs) {
      pipe.once('data', () => {
        decoded = true;
        replay?.forget();
      });
    }
    const [audioPipe, videoPipe] = child.outputs as [Readable, Readable];
    const pipes = new PairedPipes(
      input,
      { name: 'audio', pipe: audioPipe, parse: (d) => chunker.push(d), end: () => chunker.end(), timeOf: (c) => c.startS, sizeOf: (c) => c.samples.byteLength },
      { name: 'video', pipe: videoPipe, parse: (d) => frames.push(d), end: () => [], timeOf: (f) => f.time, sizeOf: (f) => f.data.byteLength },
      limits,
      { exited: child.finish, stop: child.stop },
    );
    return { pipes, decoded: () => decoded };
  };
  async function* stream<T>(kind: 'audio' | 'video', read: (p: PairedPipes<AudioChunk<Int16Array>, VideoFrame>) => AsyncGenerator<T>, alone: (o: SourceOptions) => AsyncGenerator<T>): AsyncGenerator<T> {
    opened ??= open();
    const { pipes, decoded } = await opened;
    try {
      yield* read(pipes);
    } catch (e) {
      const missing = decoded() ? null : missingOutput(e);
      if (missing === null) throw e;
      if (missing === kind) throw new MediaError(`cannot decode ${kind} of ${input}: no such stream in the input`, 'no-stream', input, (e as MediaError).stderrTail);
      let stdin = options.stdin;
      if (replay) {
        const again = replay.again();
        if (!again) throw new MediaError(`media input ${input}: more than ${MAX_STDIN_REPLAY_BYTES} bytes of stdin went by before ffmpeg found no ${missing}; cannot start over with the ${kind} alone`, 'limit', input);
        stdin = again;
      }
      yield* alone({ ...options, stdin });
    }
  }
  return {
    audio: { [Symbol.asyncIterator]: () => stream('audio', (p) => p.read(p.a), (o) => streamAudioS16(input, o)) },
    video: { [Symbol.asyncIterator]: () => stream('video', (p) => p.read(p.b), (o) => decodeVideoFrames(input, o)) },
  };
}

/**
 * The modality whose output ffmpeg found without a stream: "Output file #1 does not contain any
 * stream" (ffmpeg 5.1), "[out#1/image2pipe @ 0x..] Output file does not contain any stream" (6.1+).
 */
function missingOutput(e: unknown): 'audio' | 'video' | null {
  if (!(e instanceof MediaError) || e.kind !== 'no-stream') return null;
  const m = /Output file #(\d+) does not contain any stream|\[out#(\d+)\/[^\]]*\] Output file does not contain any stream/.exec(e.stderrTail.join('\n'));
  const index = m?.[1] ?? m?.[2];
  return index === undefined ? null : index === '0' ? 'audio' : 'video';
}

/** Cuts ffmpeg's mono PCM into chunks of `chunkMs` stamped with their media time; the last may be shorter. */
class PcmChunker<T extends Float32Array | Int16Array> {
  readonly outArgs: string[];
  private readonly sampleRate: number;
  private readonly chunkBytes: number;
  private pending: Buffer = Buffer.alloc(0);
  private emitted = 0;

  constructor(options: AudioStreamOptions, private readonly format: PcmFormat<T>) {
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
    for (; this.pending.length - offset >= this.chunkBytes; offset += this.chunkBytes) out.push(this.make(this.pending.subarray(offset, offset + this.chunkBytes)));
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

/** Numbers the frames of ffmpeg's PPM output; a frame's media time is its index / fps. */
class FrameReader {
  readonly outArgs: string[];
  private readonly fps: number;
  private readonly parser = new PpmParser();
  private index = 0;

  constructor(options: VideoOptions) {
    this.fps = options.fps ?? 5;
    const width = options.width ?? 320;
    if (!(this.fps > 0) || !(width > 0)) throw new RangeError(`fps (${this.fps}) and width (${width}) must be positive`);
    // PPM frames carry their own size in a header, so no stderr parsing is needed for the height.
    // eof_action=pass: a still image (one frame shorter than 1/fps) still yields its frame.
    const filter = `fps=${this.fps}:eof_action=pass,scale=${Math.round(width)}:-2:flags=bilinear`;
    this.outArgs = ['-an', '-sn', '-dn', '-vf', filter];
    if (options.maxFrames !== undefined) this.outArgs.push('-frames:v', String(options.maxFrames));
    this.outArgs.push('-f', 'image2pipe', '-c:v', 'ppm');
  }

  push(data: Buffer): VideoFrame[] {
    return [...this.parser.push(data)].map((frame) => ({ time: this.index / this.fps, index: this.index++, ...frame }));
  }
}

/** One output pipe of a two-output ffmpeg, and how to cut what comes out of it into items. */
export interface PipeSource<T> {
  name: string;
  pipe: Readable;
  parse(data: Buffer): T[];
  /** Items left when the pipe ends. */
  end(): T[];
  /** Media time of an item, seconds. */
  timeOf(item: T): number;
  /** Bytes an item holds. */
  sizeOf(item: T): number;
}

interface PipeQueue<T> {
  source: PipeSource<T>;
  items: T[];
  bytes: number;
  ended: boolean;
  /** The consumer stopped reading: what comes is dropped, the pipe keeps flowing. */
  released: boolean;
  /** Set while the consumer waits for an item. */
  wake: (() => void) | null;
}

/**
 * The two output pipes of one ffmpeg, read at once into queues the consumer drains in its own
 * order (see `decodeAudioVideo` for the rules: pause past `maxAheadS` unless the consumer waits on
 * the other pipe, fail with `limit` past `maxQueueBytes`). `child.exited` tells, after a pipe
 * ended, whether ffmpeg succeeded; `child.stop` kills it (on failure, or once both are released).
 */
export class PairedPipes<A, B> {
  readonly a: PipeQueue<A>;
  readonly b: PipeQueue<B>;
  private failure: unknown = null;

  constructor(
    private readonly input: string,
    a: PipeSource<A>,
    b: PipeSource<B>,
    private readonly limits: { maxAheadS: number; maxQueueBytes: number },
    private readonly child: { exited: () => Promise<void>; stop: () => void },
  ) {
    this.a = this.attach(a);
    this.b = this.attach(b);
  }

  /** The items of one queue in order; throws the first failure, or ffmpeg's once the pipe ended. */
  async *read<T>(q: PipeQueue<T>): AsyncGenerator<T> {
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        const item = q.items.shift();
        if (item !== undefined) {
          q.bytes -= q.source.sizeOf(item);
          this.update();
          yield item;
        } else if (q.ended) {
          break;
        } else {
          await new Promise<void>((resolve) => {
            q.wake = resolve;
            this.update();
          });
        }
      }
      await this.child.exited().catch((e: unknown) => {
        throw this.failure ?? e;
      });
      if (this.failure) throw this.failure;
    } finally {
      q.released = true;
      q.items = [];
      q.bytes = 0;
      q.wake = null;
      this.update();
      if (this.a.released && this.b.released) this.child.stop();
    }
  }

  private attach<T>(source: PipeSource<T>): PipeQueue<T> {
    const q: PipeQueue<T> = { source, items: [], bytes: 0, ended: false, released: false, wake: null };
    source.pipe.on('data', (d: Buffer) => this.take(q, () => source.parse(d)));
    source.pipe.on('end', () => {
      this.take(q, () => source.end());
      q.ended = true;
      this.update();
    });
    source.pipe.on('error', (e: Error) => this.fail(new MediaError(`cannot read the ${source.name} of ${this.input} from ffmpeg: ${e.message}`, 'failed', this.input)));
    return q;
  }

  private take<T>(q: PipeQueue<T>, parse: () => T[]): void {
    if (q.released || this.failure) return;
    try {
      for (const item of parse()) {
        q.items.push(item);
        q.bytes += q.source.sizeOf(item);
      }
    } catch (e) {
      return this.fail(new MediaError(`cannot decode the ${q.source.name} of ${this.input}: ${(e as Error).message}`, 'failed', this.input));
    }
    this.update();
  }

  /** Holds or releases each pipe, fails past the hard limit, and wakes a reader that has an item. */
  private update(): void {
    const { maxAheadS, maxQueueBytes } = this.limits;
    for (const [q, other] of [[this.a, this.b], [this.b, this.a]] as [PipeQueue<unknown>, PipeQueue<unknown>][]) {
      if (this.failure) return;
      if (q.bytes > maxQueueBytes) return this.fail(this.tooFarApart(q, other));
      const otherStarved = other.wake !== null && other.items.length === 0 && !other.ended;
      const full = queuedS(q) > maxAheadS || q.bytes > maxQueueBytes / 2;
      if (full && !q.released && !q.ended && !otherStarved) q.source.pipe.pause();
      else q.source.pipe.resume();
      if (q.wake && (q.items.length > 0 || q.ended)) {
        const wake = q.wake;
        q.wake = null;
        wake();
      }
    }
  }

  private tooFarApart(q: PipeQueue<unknown>, other: PipeQueue<unknown>): MediaError {
    return new MediaError(
      `media input ${this.input}: the ${this.a.source.name} and ${this.b.source.name} are too far apart: ${q.bytes} bytes (${queuedS(q).toFixed(1)} s) of ${q.source.name} ` +
        `queued while waiting for ${other.source.name}, over the limit of ${this.limits.maxQueueBytes} bytes (maxQueueBytes); the input interleaves them badly or one stalls`,
      'limit',
      this.input,
    );
  }

  private fail(e: unknown): void {
    if (this.failure) return;
    this.failure = e;
    this.child.stop();
    for (const q of [this.a, this.b] as PipeQueue<unknown>[]) {
      q.items = [];
      q.bytes = 0;
      q.source.pipe.resume();
      const wake = q.wake;
      q.wake = null;
      wake?.();
    }
  }
}

/** Media time between the oldest and the newest item of a queue, seconds. */
function queuedS<T>(q: PipeQueue<T>): number {
  const first = q.items[0];
  const last = q.items[q.items.length - 1];
  return first === undefined || last === undefined ? 0 : q.source.timeOf(last) - q.source.timeOf(first);
}

/** What the input holds: duration, audio and video streams. */
export async function probe(input: MediaInput, options: SourceOptions = {}): Promise<ProbeResult> {
  const chunks: Buffer[] = [];
  const ffprobe = (options.ffmpegPath ?? 'ffmpeg').replace(/ffmpeg(\.exe)?$/, 'ffprobe$1');
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams'];
  const fullArgs = [...args, ...inputArgs(input, options).filter((a) => a !== '-re')];
  for await (const data of runProcess(ffprobe, fullArgs, input, options, 'probe')) chunks.push(data);
  interface RawStream {
    codec_type?: string;
    codec_name?: string;
    sample_rate?: string;
    channels?: number;
    width?: number;
    height?: number;
    avg_frame_rate?: string;
    duration?: string;
  }
  const raw = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { streams?: RawStream[]; format?: { format_name?: string; duration?: string } };
  const streams = raw.streams ?? [];
  const a = streams.find((s) => s.codec_type === 'audio');
  const v = streams.find((s) => s.codec_type === 'video');
  const durations = [raw.format?.duration, ...streams.map((s) => s.duration)].map((d) => Number(d)).filter((d) => Number.isFinite(d) && d > 0);
  const result: ProbeResult = {
    input,
    formatName: raw.format?.format_name ?? 'unknown',
    durationS: durations.length > 0 ? Math.max(...durations) : null,
    hasAudio: a !== undefined,
    hasVideo: v !== undefined,
  };
  if (a) result.audio = { codec: a.codec_name ?? 'unknown', sampleRate: Number(a.sample_rate ?? 0), channels: a.channels ?? 0 };
  if (v) result.video = { codec: v.codec_name ?? 'unknown', width: v.width ?? 0, height: v.height ?? 0, fps: parseRate(v.avg_frame_rate) };
  return result;
}

function parseRate(rate: string | undefined): number | null {
  if (!rate) return null;
  const [n, d] = rate.split('/').map(Number);
  if (n === undefined || !Number.isFinite(n) || n <= 0) return null;
  const r = d === undefined ? n : n / d;
  return Number.isFinite(r) && r > 0 ? r : null;
}

/** ffmpeg's input arguments for a MediaInput. */
export function inputArgs(input: MediaInput, options: SourceOptions = {}): string[] {
  const pre = options.realtime ? ['-re'] : [];
  if (input.startsWith('lavfi:')) return [...pre, '-f', 'lavfi', '-i', input.slice('lavfi:'.length)];
  if (input === '-') return [...pre, '-i', 'pipe:0'];
  return [...pre, '-i', input];
}

function isLocalFile(input: MediaInput): boolean {
  return input !== '-' && !input.startsWith('lavfi:') && !/^[a-z][a-z0-9+.-]*:\/\//i.test(input);
}

async function checkLocalFile(input: MediaInput, options: SourceOptions): Promise<void> {
  if (!isLocalFile(input)) return;
  const path = input.startsWith('file:') ? input.slice('file:'.length) : input;
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new MediaError(`media input ${input}: not a regular file`, 'not-found', input);
    size = s.size;
  } catch (e) {
    if (e instanceof MediaError) throw e;
    throw new MediaError(`media input ${input}: no such file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`, 'not-found', input);
  }
  if (options.maxInputBytes !== undefined && size > options.maxInputBytes) {
    throw new MediaError(`media input ${input}: ${size} bytes exceeds the limit of ${options.maxInputBytes} bytes (maxInputBytes)`, 'limit', input);
  }
  if (size === 0) throw new MediaError(`media input ${input}: file is empty`, 'corrupt', input);
}

function runFfmpeg(input: MediaInput, outputs: string[][], options: SourceOptions, what: string): AsyncGenerator<Buffer> {
  return runProcess(options.ffmpegPath ?? 'ffmpeg', ffmpegArgs(input, outputs, options), input, options, what);
}

/** ffmpeg's arguments: the input, then each output (cut at maxDurationS) to stdout, fd 3, fd 4, ... */
function ffmpegArgs(input: MediaInput, outputs: string[][], options: SourceOptions): string[] {
  // -nostdin would stop ffmpeg reading pipe:0, so leave it out when stdin is the input.
  const args = [...(input === '-' ? [] : ['-nostdin']), '-hide_banner', '-loglevel', 'error', ...inputArgs(input, options)];
  outputs.forEach((out, i) => {
    if (options.maxDurationS !== undefined) args.push('-t', String(options.maxDurationS));
    args.push(...out, `pipe:${i === 0 ? 1 : i + 2}`);
  });
  return args;
}

/** Spawns ffmpeg/ffprobe, yields its stdout, and throws a classified MediaError on failure. */
async function* runProcess(cmd: string, args: string[], input: MediaInput, options: SourceOptions, what: string): AsyncGenerator<Buffer> {
  const child = await startProcess(cmd, args, input, options, what);
  try {
    for await (const data of child.outputs[0]! as AsyncIterable<Buffer>) yield data;
    await child.finish();
  } finally {
    child.stop();
  }
}

/** A started ffmpeg / ffprobe. */
interface Running {
  /** Its output pipes: stdout, then fd 3, 4, ... */
  outputs: Readable[];
  /** Waits for the exit; throws a classified MediaError unless the child succeeded. */
  finish: () => Promise<void>;
  /** Kills the child if it still runs and stops listening for abort; safe to call again. */
  stop: () => void;
}

/**
 * Checks a local input, spawns `cmd` with `outputs` output pipes and feeds it stdin for input `-`
 * (`stdin`, else options.stdin or process.stdin). Abort kills it.
 */
async function startProcess(cmd: string, args: string[], input: MediaInput, options: SourceOptions, what: string, outputs = 1, stdin?: Readable): Promise<Running> {
  await checkLocalFile(input, options);
  const extra = Array.from({ length: outputs - 1 }, () => 'pipe' as const);
  const child: ChildProcess = spawn(cmd, args, { stdio: [input === '-' ? 'pipe' : 'ignore', 'pipe', 'pipe', ...extra] });
  const tail = new LineTail(STDERR_LINES * 4);
  child.stderr!.on('data', (d: Buffer) => tail.push(d));
  let spawnError: NodeJS.ErrnoException | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (e) => {
      spawnError = e;
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let limitHit = false;
  const onAbort = () => child.kill('SIGKILL');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  if (input === '-') {
    const src = stdin ?? (Buffer.isBuffer(options.stdin) ? Readable.from([options.stdin]) : (options.stdin ?? process.stdin));
    pipeStdin(child, src, options.maxInputBytes, () => {
      limitHit = true;
      child.kill('SIGKILL');
    });
  }
  return {
    outputs: [child.stdout!, ...(child.stdio.slice(3, 2 + outputs) as Readable[])],
    finish: async () => {
      const { code, signal } = await exited;
      if (spawnError) {
        throw new MediaError(
          spawnError.code === 'ENOENT' ? `${cmd} not found on PATH; install ffmpeg (Debian: apt-get install ffmpeg)` : `could not start ${cmd}: ${spawnError.message}`,
          'ffmpeg-missing',
          input,
        );
      }
      if (options.signal?.aborted) throw new MediaError(`decoding ${what} of ${input} was aborted`, 'aborted', input);
      if (limitHit) throw new MediaError(`media input ${input}: stdin exceeds the limit of ${options.maxInputBytes} bytes (maxInputBytes)`, 'limit', input);
      if (code !== 0) throw classify(input, what, code, signal, tail.lines());
    },
    stop: () => {
      options.signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function pipeStdin(child: ChildProcess, src: Readable, maxInputBytes: number | undefined, onLimit: () => void): void {
  const sink = child.stdin!;
  sink.on('error', () => {}); // EPIPE when ffmpeg stops reading early; its exit status tells the story
  let bytes = 0;
  src.on('data', (d: Buffer) => {
    bytes += d.length;
    if (maxInputBytes !== undefined && bytes > maxInputBytes) {
      src.unpipe(sink);
      onLimit();
    }
  });
  src.pipe(sink);
}

/**
 * Stdin for a first ffmpeg that may have to hand it to a second from the start: keeps a copy of
 * what went by (up to MAX_STDIN_REPLAY_BYTES) until told the first one is decoding.
 */
class StdinReplay {
  private seen: Buffer[] | null = [];
  private bytes = 0;
  private readonly feed = new PassThrough();

  constructor(private readonly src: Readable) {}

  first(): Readable {
    this.src.on('data', this.record);
    this.src.pipe(this.feed);
    return this.feed;
  }

  /** The first ffmpeg is decoding: nothing will be replayed. */
  forget(): void {
    this.seen = null;
    this.src.off('data', this.record);
  }

  /** Everything from the start (null when too much went by): what the first one read, then the rest. */
  again(): Readable | null {
    const seen = this.seen;
    this.forget();
    this.src.unpipe(this.feed);
    this.src.pause();
    if (!seen) return null;
    const src = this.src;
    return Readable.from(
      (async function* () {
        yield* seen;
        yield* src;
      })(),
    );
  }

  private readonly record = (d: Buffer): void => {
    if (!this.seen) return;
    this.seen.push(d);
    this.bytes += d.length;
    if (this.bytes > MAX_STDIN_REPLAY_BYTES) this.seen = null;
  };
}

const PATTERNS: [RegExp, MediaErrorKind, string][] = [
  [/No such file or directory/i, 'not-found', 'no such file'],
  [/Decoder \(codec [^)]*\) not found|Unknown decoder|codec not currently supported|Unsupported codec|no decoder found/i, 'unsupported-codec', 'unsupported codec (ffmpeg has no decoder for it)'],
  [/Connection refused|Connection timed out|Network is unreachable|Failed to resolve hostname|Server returned [45]\d\d|HTTP error|Name or service not known|I\/O error/i, 'network', 'could not read the URL'],
  [/moov atom not found|Invalid data found|End of file|truncat|corrupt|error reading header|could not find codec parameters|partial file/i, 'corrupt', 'corrupt or truncated media'],
  [/does not contain any stream|Output file #0 does not contain|matches no streams|Stream map .* matches no/i, 'no-stream', 'no such stream in the input'],
];

function classify(input: string, what: string, code: number | null, signal: NodeJS.Signals | null, lines: string[]): MediaError {
  const text = lines.join('\n');
  const last = lines.slice(-STDERR_LINES);
  for (const [re, kind, words] of PATTERNS) {
    if (re.test(text)) return new MediaError(`cannot decode ${what} of ${input}: ${words}`, kind, input, last);
  }
  const how = code !== null ? `exit code ${code}` : `signal ${signal}`;
  return new MediaError(`cannot decode ${what} of ${input}: ffmpeg failed (${how})`, 'failed', input, last);
}

/** Keeps the last N lines of a process's stderr (bounded memory). */
class LineTail {
  private buf: string[] = [];
  private partial = '';
  constructor(private readonly max: number) {}
  push(d: Buffer): void {
    const parts = (this.partial + d.toString('utf8')).split(/\r?\n/);
    this.partial = (parts.pop() ?? '').slice(-1000);
    for (const p of parts) if (p.trim()) this.buf.push(p.trim().slice(0, 500));
    if (this.buf.length > this.max) this.buf.splice(0, this.buf.length - this.max);
  }
  lines(): string[] {
    return this.partial.trim() ? [...this.buf, this.partial.trim()] : [...this.buf];
  }
}

/** Splits ffmpeg's `image2pipe` PPM (P6, maxval 255) output into frames. */
export class PpmParser {
  private pending: Buffer = Buffer.alloc(0);
  *push(data: Buffer): Generator<{ width: number; height: number; data: Uint8Array }> {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    for (;;) {
      const header = parsePpmHeader(this.pending);
      if (!header) return;
      const size = header.width * header.height * 3;
      if (this.pending.length < header.offset + size) return;
      const frame = new Uint8Array(size);
      frame.set(this.pending.subarray(header.offset, header.offset + size));
      this.pending = this.pending.subarray(header.offset + size);
      yield { width: header.width, height: header.height, data: frame };
    }
  }
}

function parsePpmHeader(b: Buffer): { width: number; height: number; offset: number } | null {
  // "P6" whitespace width whitespace height whitespace maxval single-whitespace data
  const fields: number[] = [];
  let i = 2;
  if (b.length < 3) return null;
  if (b[0] !== 0x50 || b[1] !== 0x36) throw new Error(`unexpected frame data from ffmpeg (not PPM P6): ${b.subarray(0, 8).toString('hex')}`);
  while (fields.length < 3) {
    while (i < b.length && isSpace(b[i]!)) i++;
    let v = 0;
    let digits = 0;
    while (i < b.length && b[i]! >= 0x30 && b[i]! <= 0x39) {
      v = v * 10 + (b[i]! - 0x30);
      i++;
      digits++;
    }
    if (i >= b.length) return null;
    if (digits === 0) throw new Error('malformed PPM header from ffmpeg');
    fields.push(v);
  }
  if (fields[2] !== 255) throw new Error(`unexpected PPM maxval ${fields[2]} from ffmpeg`);
  return { width: fields[0]!, height: fields[1]!, offset: i + 1 };
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
