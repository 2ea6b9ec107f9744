/**
 * One face worker thread of the face pool (./facePool.ts): loads the FaceAnalyzer (Human on tfjs
 * WASM, with its own tfjs engine: one per thread) and analyses the frames posted to it, so that
 * the face model, which runs synchronously in WASM, never blocks the pipeline's event loop.
 * Job in: an RGB24 frame; result: the main face's vector and the face count, or null (no face).
 */
import { serveWorker } from '../../workers/serve.js';
import { FaceAnalyzer, type FaceObservation, type RgbFrame } from './face.js';
import type { FaceWorkerData } from './facePool.js';

await serveWorker<FaceWorkerData, null, RgbFrame, FaceObservation | null>(async (data) => {
  const analyzer = await FaceAnalyzer.create({ detectorModel: data.detectorModel });
  return { ready: null, handle: (frame) => analyzer.analyze(frame) };
});
