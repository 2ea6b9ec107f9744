/**
 * Real face frames for bench/load.ts `--faces CLIP`: the clip's frames at 2 fps, scaled to 320 px
 * wide (the sample clip Oz06ZWiO20M_6.mp4 gives 15 frames of 320x240, a speaker's face in each),
 * JPEG-encoded once; each session's video frames cycle through them, so the face analyzer sees
 * real faces at the rate the generator sends frames, and a request stays far under the broker's
 * 1 MB limit (a 320x240 JPEG is about 10-20 KB, RGB24 230 KB).
 */
import { decodeVideoFrames } from '../src/media/ffmpeg/index.js';
import { loadJpegEncoder } from '../src/media/image.js';
import type { InputRecord } from '../src/schemas/records.js';

export interface FaceFrame {
  width: number;
  height: number;
  jpeg: Buffer;
}

export async function loadFaceFrames(clip: string): Promise<FaceFrame[]> {
  const encode = await loadJpegEncoder(85);
  const out: FaceFrame[] = [];
  for await (const f of decodeVideoFrames(clip, { fps: 2, width: 320, maxFrames: 64 })) {
    out.push({ width: f.width, height: f.height, jpeg: await encode(f) });
  }
  if (out.length === 0) throw new Error(`--faces ${clip}: ffmpeg gave no video frames`);
  return out;
}

/** The record with its (generated, 8x8) video frame replaced by real frame `(seq + offset) mod n`. */
export function withFace(record: InputRecord, faces: readonly FaceFrame[], offset: number): InputRecord {
  if (record.kind !== 'video' || record.value.data.length === 0) return record;
  const f = faces[(record.value.seq + offset) % faces.length]!;
  return { kind: 'video', value: { ...record.value, format: 'JPEG', width: f.width, height: f.height, data: f.jpeg } };
}
