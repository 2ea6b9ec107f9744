/**
 * The ffmpeg adapter: the only module that spawns ffmpeg / ffprobe. It decodes any input ffmpeg
 * understands into mono PCM (whole or in fixed-length chunks) and RGB24 video frames, and probes
 * what an input holds.
 *
 * Inputs (`MediaInput`): a file path, a URL (http, rtmp, rtsp, ...), `-` for stdin (or a Buffer /
 * Readable passed as `stdin`), or `lavfi:<filtergraph>` for ffmpeg's built-in test sources, e.g.
 * `lavfi:testsrc=size=320x240:rate=10` or `lavfi:sine=frequency=220:duration=2`.
 *
 * Failures throw `MediaError` naming the input, a kind (`not-found`, `corrupt`, `unsupported-codec`,
 * `network`, `no-stream`, `limit`, `aborted`, `ffmpeg-missing`, `failed`) and the last lines of
 * ffmpeg's stderr. Work is bounded: `maxDurationS` cuts decoding at that much media time,
 * `maxInputBytes` refuses larger files or stdin streams. Breaking out of an iterator kills ffmpeg.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';

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

const STDERR_LINES = 8;

/** Decodes the whole audio track to mono float PCM in [-1, 1]. */
export async function decodeAudio(input: MediaInput, options: AudioOptions = {}): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  let total = 0;
  for await (const chunk of streamAudio(input, { ...options, chunkMs: 1000 })) {
    parts.push(chunk.samples);
    total += chunk.samples.length;
  }
  const out = new Float32Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Mono float PCM in chunks of `chunkMs`, as ffmpeg decodes them (for live sources). */
export function streamAudio(input: MediaInput, options: AudioStreamOptions = {}): AsyncGenerator<AudioChunk<Float32Array>> {
  return pcmChunks(input, options, 'f32le', 4, (b) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4));
}

/** Mono signed 16-bit PCM chunks (the wire format of audio records). */
export function streamAudioS16(input: MediaInput, options: AudioStreamOptions = {}): AsyncGenerator<AudioChunk<Int16Array>> {
  return pcmChunks(input, options, 's16le', 2, (b) => new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2));
}

async function* pcmChunks<T extends Float32Array | Int16Array>(
  input: MediaInput,
  options: AudioStreamOptions,
  format: string,
  bytesPerSample: number,
  view: (aligned: Uint8Array) => T,
): AsyncGenerator<AudioChunk<T>> {
  const sampleRate = options.sampleRate ?? 16000;
  const chunkMs = options.chunkMs ?? 100;
  if (!(sampleRate > 0) || !(chunkMs > 0)) throw new RangeError(`sampleRate (${sampleRate}) and chunkMs (${chunkMs}) must be positive`);
  const chunkSamples = Math.max(1, Math.round((sampleRate * chunkMs) / 1000));
  const chunkBytes = chunkSamples * bytesPerSample;
  const outArgs = ['-vn', '-sn', '-dn', '-ac', '1', '-ar', String(sampleRate), '-f', format, 'pipe:1'];
  let pending: Buffer = Buffer.alloc(0);
  let emitted = 0;
  const make = (bytes: Buffer): AudioChunk<T> => {
    // Copy into a fresh, aligned buffer: stream chunks may start at any byte offset.
    const aligned = new Uint8Array(bytes.byteLength);
    aligned.set(bytes);
    const chunk = { startS: emitted / sampleRate, sampleRate, samples: view(aligned) };
    emitted += chunk.samples.length;
    return chunk;
  };
  for await (const data of runFfmpeg(input, outArgs, options, 'audio')) {
    pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
    let offset = 0;
    while (pending.length - offset >= chunkBytes) {
      yield make(pending.subarray(offset, offset + chunkBytes));
      offset += chunkBytes;
    }
    pending = pending.subarray(offset);
  }
  const rest = pending.length - (pending.length % bytesPerSample);
  if (rest > 0) yield make(pending.subarray(0, rest));
}

/** RGB24 frames sampled at `fps`, scaled to `width` (aspect kept). A still image gives one frame. */
export async function* decodeVideoFrames(input: MediaInput, options: VideoOptions = {}): AsyncGenerator<VideoFrame> {
  const fps = options.fps ?? 5;
  const width = options.width ?? 320;
  if (!(fps > 0) || !(width > 0)) throw new RangeError(`fps (${fps}) and width (${width}) must be positive`);
  // PPM frames carry their own size in a header, so no stderr parsing is needed for the height.
  // eof_action=pass: a still image (one frame shorter than 1/fps) still yields its frame.
  const filter = `fps=${fps}:eof_action=pass,scale=${Math.round(width)}:-2:flags=bilinear`;
  const outArgs = ['-an', '-sn', '-dn', '-vf', filter];
  if (options.maxFrames !== undefined) outArgs.push('-frames:v', String(options.maxFrames));
  outArgs.push('-f', 'image2pipe', '-c:v', 'ppm', 'pipe:1');
  const parser = new PpmParser();
  let index = 0;
  for await (const data of runFfmpeg(input, outArgs, options, 'video')) {
    for (const frame of parser.push(data)) {
      yield { time: index / fps, index, ...frame };
      index += 1;
    }
  }
}

/** What the input holds: duration, audio and video streams. */
export async function probe(input: MediaInput, options: SourceOptions = {}): Promise<ProbeResult> {
  const chunks: Buffer[] = [];
  const ffprobe = (options.ffmpegPath ?? 'ffmpeg').replace(/ffmpeg(\.exe)?$/, 'ffprobe$1');
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams'];
  for await (const data of runProcess(ffprobe, args, input, options, 'probe')) chunks.push(data);
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

function runFfmpeg(input: MediaInput, outArgs: string[], options: SourceOptions, what: string): AsyncGenerator<Buffer> {
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error'];
  // -nostdin would stop ffmpeg reading pipe:0, so leave it out when stdin is the input.
  if (input === '-') args.splice(0, 1);
  if (options.maxDurationS !== undefined) outArgs = ['-t', String(options.maxDurationS), ...outArgs];
  return runProcess(options.ffmpegPath ?? 'ffmpeg', [...args, ...inputArgs(input, options), ...outArgs], input, options, what);
}

/** Spawns ffmpeg/ffprobe, yields its stdout, and throws a classified MediaError on failure. */
async function* runProcess(cmd: string, args: string[], input: MediaInput, options: SourceOptions, what: string): AsyncGenerator<Buffer> {
  await checkLocalFile(input, options);
  const fullArgs = cmd.endsWith('ffprobe') ? [...args, ...inputArgs(input, options).filter((a) => a !== '-re')] : args;
  const child: ChildProcess = spawn(cmd, fullArgs, { stdio: [input === '-' ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
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
  if (input === '-') pipeStdin(child, options, () => {
    limitHit = true;
    child.kill('SIGKILL');
  });
  let done = false;
  try {
    for await (const data of child.stdout! as AsyncIterable<Buffer>) yield data;
    const { code, signal } = await exited;
    done = true;
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
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (!done && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function pipeStdin(child: ChildProcess, options: SourceOptions, onLimit: () => void): void {
  const sink = child.stdin!;
  sink.on('error', () => {}); // EPIPE when ffmpeg stops reading early; its exit status tells the story
  const src: Readable = Buffer.isBuffer(options.stdin) ? Readable.from([options.stdin]) : (options.stdin ?? process.stdin);
  let bytes = 0;
  src.on('data', (d: Buffer) => {
    bytes += d.length;
    if (options.maxInputBytes !== undefined && bytes > options.maxInputBytes) {
      src.unpipe(sink);
      onLimit();
    }
  });
  src.pipe(sink);
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
