/**
 * The face analyzer in worker threads (src/features/visual/facePool.ts): on real faces (the MOSI
 * sample clip at 320 px, FER-2013 crops) it gives the vectors the analyzer in this thread gives;
 * a frame it owns is moved to the worker, not copied; a worker that dies under a frame is a
 * FaceCrashError (or a retry, for a copied frame), never a hang, and the pool goes on; its queue
 * is bounded.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeVideoFrames } from '../../src/media/ffmpeg/index.js';
import { loadImageDecoder } from '../../src/media/image.js';
import { defaultDetectorModel, FaceAnalyzer, type RgbFrame } from '../../src/features/visual/index.js';
import { FaceCrashError, startFacePool, type FacePool } from '../../src/features/visual/facePool.js';
import { WorkerPoolFullError, type WorkerPoolEvent } from '../../src/workers/pool.js';
import { silentLogger } from '../../src/log.js';
import { faceModelsMissing } from '../fixtures/faceModels.js';
import { dataDir } from '../fixtures/env.js';

const SAMPLE = join(dataDir, 'samples', 'Oz06ZWiO20M_6.mp4');
const CROPS = ['happy/1019.jpg', 'happy/1161.jpg', 'happy/1177.jpg'].map((f) => join(dataDir, 'fer2013', f));

/** A copy in an ArrayBuffer of its own (movable). */
const own = (f: RgbFrame): RgbFrame => ({ width: f.width, height: f.height, data: new Uint8Array(f.data) });

async function realFrames(): Promise<RgbFrame[]> {
  const frames: RgbFrame[] = [];
  for await (const f of decodeVideoFrames(SAMPLE, { fps: 1, width: 320, maxFrames: 6 })) frames.push(own(f));
  const decode = await loadImageDecoder();
  if (typeof decode === 'string') throw new Error(decode);
  for (const crop of CROPS) frames.push(own(await decode({ format: 'JPEG', width: 0, height: 0, data: await readFile(crop) }, 320)));
  return frames;
}

describe('face analysis in worker threads', { skip: faceModelsMissing ?? false, timeout: 180_000 }, () => {
  let frames: RgbFrame[];
  let inThread: FaceAnalyzer;
  let pool: FacePool;
  let small: FacePool;
  let onDispatch: ((e: Extract<WorkerPoolEvent<RgbFrame>, { type: 'dispatch' }>) => void) | null = null;

  before(async () => {
    frames = await realFrames();
    inThread = await FaceAnalyzer.create();
    pool = await startFacePool({ workers: 2, detectorModel: defaultDetectorModel(), logger: silentLogger });
    small = await startFacePool({
      workers: 1,
      maxQueued: 2,
      detectorModel: defaultDetectorModel(),
      logger: silentLogger,
      onEvent: (e) => {
        if (e.type === 'dispatch') onDispatch?.(e);
      },
    });
  });
  after(async () => {
    await pool?.release();
    await small?.release();
  });

  it('gives the vectors of the analyzer in this thread on real faces, frames moved to the workers, not copied', async () => {
    const expected = [];
    for (const f of frames) expected.push(await inThread.analyze(f));
    assert.ok(expected.filter((e) => e !== null).length >= 8, `faces in ${expected.filter((e) => e !== null).length} of ${frames.length} frames`);
    const sent = frames.map(own);
    // All at once: two workers, results matched to their frames.
    const got = await Promise.all(sent.map((f) => pool.analyze(f, { owned: true })));
    assert.deepEqual(got, expected);
    assert.ok(
      sent.every((f) => f.data.byteLength === 0),
      'each owned frame was moved (its buffer detached here)',
    );
    // A frame that is a view of something else (a record's payload) is copied, and stays readable here.
    const view = own(frames[0]!);
    assert.deepEqual(await pool.analyze(view), expected[0]);
    assert.equal(view.data.byteLength, frames[0]!.data.byteLength);
  });

  it('a worker that dies under a frame: a moved frame fails with FaceCrashError, a copied one is run again; later frames are analysed', async () => {
    const expected = await inThread.analyze(frames[0]!);
    onDispatch = (e) => {
      onDispatch = null;
      void small.terminateWorker(e.worker);
    };
    await assert.rejects(small.analyze(own(frames[0]!), { owned: true }), FaceCrashError);
    let kills = 0;
    onDispatch = (e) => {
      if (kills++ === 0) void small.terminateWorker(e.worker);
    };
    assert.deepEqual(await small.analyze(own(frames[0]!)), expected, 'run again on the new worker');
    onDispatch = null;
    assert.deepEqual(await small.analyze(own(frames[0]!), { owned: true }), expected);
    assert.deepEqual({ crashes: small.stats().crashes, retried: small.stats().retried }, { crashes: 2, retried: 1 });
  });

  it('bounds its queue: a frame beyond maxQueued is rejected at once', async () => {
    const runs = frames.slice(0, 4).map((f) => small.analyze(own(f)));
    // One in the worker, two waiting, the fourth refused.
    await assert.rejects(runs[3]!, WorkerPoolFullError);
    await Promise.all(runs.slice(0, 3));
  });

  it('refuses a frame whose size does not match its bytes, naming both', async () => {
    await assert.rejects(pool.analyze({ width: 4, height: 4, data: new Uint8Array(10) }), /10 bytes, expected 4x4x3/);
  });
});
