/**
 * The image adapter: the one place that loads sharp (libvips). Decoding JPEG / PNG video frames
 * for the face features (about 1 ms for 320x240, off the event loop; ffmpeg per frame would cost
 * about 40 ms of CPU and a process, as much as the face model) and encoding raw frames as JPEG
 * for `msa ingest`. sharp is loaded on first use, so RGB24 paths need nothing but ffmpeg.
 */

/** An RGB24 image: width * height * 3 bytes, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** An image as a video frame carries it. */
export interface EncodedImage {
  format: string;
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decodes (JPEG, PNG) or rescales (RGB24) an image to RGB24 at most `maxWidth` wide, aspect kept. */
export type ImageDecoder = (image: EncodedImage, maxWidth: number) => Promise<RgbImage>;

/** RGB24 -> JPEG bytes. */
export type JpegEncoder = (image: RgbImage) => Promise<Buffer>;

interface SharpLike {
  removeAlpha(): SharpLike;
  resize(options: { width: number; withoutEnlargement: boolean }): SharpLike;
  toColourspace(space: string): SharpLike;
  raw(): SharpLike;
  jpeg(options: { quality: number }): SharpLike;
  toBuffer(): Promise<Buffer>;
  toBuffer(options: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
}
type SharpFactory = (input: Uint8Array, options?: { raw?: { width: number; height: number; channels: 3 }; limitInputPixels?: number }) => SharpLike;

/** Largest decoded image accepted (pixels): a small JPEG may claim a huge size. */
const MAX_INPUT_PIXELS = 4096 * 4096;

let loaded: Promise<SharpFactory | string> | undefined;

/** sharp, or why it did not load (the first line of the error). */
function loadSharp(): Promise<SharpFactory | string> {
  loaded ??= import('sharp').then(
    (m) => (m as unknown as { default: SharpFactory }).default,
    (e: unknown) => `the sharp package did not load (${(e as Error).message.split('\n')[0]})`,
  );
  return loaded;
}

/** The sharp-based decoder, or the reason sharp did not load. */
export async function loadImageDecoder(): Promise<ImageDecoder | string> {
  const sharp = await loadSharp();
  if (typeof sharp === 'string') return sharp;
  return async (image, maxWidth) => {
    const input =
      image.format === 'RGB24'
        ? sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
        : sharp(image.data, { limitInputPixels: MAX_INPUT_PIXELS });
    const { data, info } = await input
      .removeAlpha()
      .toColourspace('srgb')
      .resize({ width: maxWidth, withoutEnlargement: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded ${image.format} frame has ${info.channels} channels, expected 3`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  };
}

/** A JPEG encoder at `quality` (1-100); throws naming what to do when sharp is missing. */
export async function loadJpegEncoder(quality: number): Promise<JpegEncoder> {
  if (!(quality >= 1 && quality <= 100)) throw new RangeError(`JPEG quality must be in [1, 100], got ${quality}`);
  const sharp = await loadSharp();
  if (typeof sharp === 'string') {
    throw new Error(`JPEG video frames need sharp: ${sharp}; install it (npm install sharp) or ingest raw frames (--video-format RGB24)`);
  }
  return (image) =>
    sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .jpeg({ quality })
      .toBuffer();
}
