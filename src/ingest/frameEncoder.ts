/**
 * Turns decoded RGB24 frames into the bytes of a VideoFrame record: raw (RGB24) or JPEG (through
 * the image adapter, about 1-2 ms for a 320 px frame).
 */
import { loadJpegEncoder, type RgbImage } from '../media/image.js';
import type { FrameFormat } from '../schemas/records.js';

export type IngestFrameFormat = Extract<FrameFormat, 'JPEG' | 'RGB24'>;

export type FrameEncoder = (frame: RgbImage) => Promise<Buffer>;

/** An encoder for `format`; JPEG `quality` 1-100 (default 80). */
export async function createFrameEncoder(format: IngestFrameFormat, quality = 80): Promise<FrameEncoder> {
  if (format === 'RGB24') return async (f) => Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
  if (format !== 'JPEG') throw new RangeError(`video format must be JPEG or RGB24, got ${JSON.stringify(format)}`);
  return loadJpegEncoder(quality);
}
