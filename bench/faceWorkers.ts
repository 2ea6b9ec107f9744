/**
 * Face analysis in this thread against the face pool (src/features/visual/facePool.ts): frames/s
 * of real 320x240 faces (the MOSI sample clip) and how long the event loop is blocked meanwhile
 * (a 2 ms timer's lateness: p99 / max), with 1 and 2 face workers.
 *
 *   node --import tsx bench/faceWorkers.ts [--frames 60] [--rounds 3] [--workers 1,2]
 *
 * In this thread frames run one at a time (the pipeline's video concurrency 1); in the pool,
 * 2 x workers at a time (as the pipeline runs it). Medians over rounds.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeVideoFrames } from '../src/media/ffmpeg/index.js';
import { defaultDetectorModel, FaceAnalyzer, type RgbFrame } from '../src/features/visual/index.js';
import { startFacePool } from '../src/features/visual/facePool.js';
import type { FaceSource } from '../src/features/visual/faceVectors.js';
import { silentLogger } from '../src/log.js';
import { packageRoot } from '../src/paths.js';

const { values } = parseArgs({
  options: { frames: { type: 'string', default: '60' }, rounds: { type: 'string', default: '3' }, workers: { type: 'string', default: '1,2' } },
});
const nFrames = Number(values.frames);
const rounds = Number(values.rounds);
const workerCounts = values.workers.split(',').map(Number);
for (const [name, v] of [['frames', nFrames], ['rounds', rounds], ...workerCounts.map((w) => ['workers', w] as const)] as const) {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${v}`);
}

const clip = join(packageRoot(), '..', 'shared', 'data', 'samples', 'Oz06ZWiO20M_6.mp4');
const source: RgbFrame[] = [];
for await (const f of decodeVideoFrames(clip, { fps: 2, width: 320 })) source.push({ width: f.width, height: f.height, data: new Uint8Array(f.data) });
const frames = Array.from({ length: nFrames }, (_, i) => source[i % source.length]!);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function measure(faces: FaceSource, concurrency: number): Promise<{ fps: number; loopP99: number; loopMax: number }> {
  // The event loop's responsiveness: how late a 2 ms timer fires.
  const late: number[] = [];
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    late.push(Math.max(0, now - last - 2));
    last = now;
  }, 2);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < frames.length) {
        const f = frames[next++]!;
        await faces.analyze({ width: f.width, height: f.height, data: new Uint8Array(f.data) }, { owned: true });
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  // The stretch since the last tick counts too: in this thread the analyses chain on promises
  // without a macrotask between them, so the timer may never fire until all frames are done.
  late.push(Math.max(0, performance.now() - last - 2));
  clearInterval(probe);
  late.sort((a, b) => a - b);
  return { fps: frames.length / s, loopP99: late[Math.floor(late.length * 0.99)] ?? 0, loopMax: late[late.length - 1] ?? 0 };
}

async function rows(label: string, faces: FaceSource, concurrency: number) {
  await measure(faces, concurrency); // warm-up
  const runs = [];
  for (let r = 0; r < rounds; r++) runs.push(await measure(faces, concurrency));
  const row = { label, fps: median(runs.map((r) => r.fps)), loopP99: median(runs.map((r) => r.loopP99)), loopMax: median(runs.map((r) => r.loopMax)) };
  console.log(`| ${label} | ${row.fps.toFixed(1)} | ${row.loopP99.toFixed(1)} | ${row.loopMax.toFixed(1)} |`);
  return row;
}

console.log(`${frames.length} frames of ${source[0]!.width}x${source[0]!.height}, ${rounds} rounds (medians)\n`);
console.log('| face analysis | frames/s | event loop blocked p99 (ms) | max (ms) |\n| --- | --- | --- | --- |');
const inThread = await rows('in this thread (faceWorkers 0)', await FaceAnalyzer.create(), 1);
const results = [];
for (const workers of workerCounts) {
  const pool = await startFacePool({ workers, detectorModel: defaultDetectorModel(), logger: silentLogger });
  try {
    results.push(await rows(`${workers} worker(s)`, pool, 2 * workers));
  } finally {
    await pool.release();
  }
}
console.log(`\nframes/s against this thread: ${results.map((r) => `${r.label} ${(r.fps / inThread.fps).toFixed(2)}x`).join(', ')}`);
