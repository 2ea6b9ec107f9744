/**
 * Turns decoded RGB24 frames into the bytes of a VideoFrame record: raw (RGB24) or JPEG.
 * JPEG goes through sharp (libvips, about 1-2 ms for a 320 px frame); it is loaded only when
 * JPEG is asked for, so RGB24 ingest needs nothing beyond ffmpeg.
 */
import type { FrameFormat } from '../schemas/records.js';

export type IngestFrameFormat = Extract<FrameFormat, 'JPEG' | 'RGB24'>;

export interface RgbImage {
  width: number;
  height: number;
  /** RGB24, width * height * 3 bytes. */
  data: Uint8Array;
}

export type FrameEncoder = (frame: RgbImage) => Promise<Buffer>;

/** An encoder for `format`; JPEG `quality` 1-100 (default 80). */
export async function createFrameEncoder(format: IngestFrameFormat, quality = 80): Promise<FrameEncoder> {
  if (format === 'RGB24') return async (f) => Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
  if (format !== 'JPEG') throw new RangeError(`video format must be JPEG or RGB24, got ${JSON.stringify(format)}`);
  if (!(quality >= 1 && quality <= 100)) throw new RangeError(`JPEG quality must be in [1, 100], got ${quality}`);
  let sharp: typeof import('sharp').default;
  try {
    sharp = (await import('sharp')).default;
  } catch (e) {
    throw new Error(`JPEG video frames need the sharp package, which did not load (${(e as Error).message.split('\n')[0]}); install it (npm install sharp) or ingest raw frames (--video-format RGB24)`);
  }
  return (f) => sharp(f.data, { raw: { width: f.width, height: f.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}
