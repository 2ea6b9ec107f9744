/** RGB24 video frames from ffmpeg's PPM (`image2pipe`) output, sampled at a fixed rate. */
import { runFfmpeg, type MediaInput, type SourceOptions } from './process.js';

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

/** RGB24 frames sampled at `fps`, scaled to `width` (aspect kept). A still image gives one frame. */
export async function* decodeVideoFrames(input: MediaInput, options: VideoOptions = {}): AsyncGenerator<VideoFrame> {
  const frames = new FrameReader(options);
  for await (const data of runFfmpeg(input, [frames.outArgs], options, 'video')) yield* frames.push(data);
}

/** Numbers the frames of ffmpeg's PPM output; a frame's media time is its index / fps. */
export class FrameReader {
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
