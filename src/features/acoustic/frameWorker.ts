/**
 * One voice DSP worker thread of the acoustic frame pool (./framePool.ts): holds an
 * AcousticFrameStream (per-session sample buffers and resamplers) for the sessions routed to it,
 * and computes the frames each audio chunk completes, off the pipeline's event loop.
 * Jobs: a chunk -> its frames (buffers moved back, not copied) or why it is not analysed; `end`
 * / `endAll` -> the session's (every session's) stream state freed; all of them return the
 * stream's counters, and how many sessions and resamplers it holds.
 */
import { serveWorker } from '../../workers/serve.js';
import { AcousticFrameStream } from './frameStream.js';
import type { FrameJob, FrameJobResult } from './framePool.js';

await serveWorker<null, null, FrameJob, FrameJobResult>(() => {
  const stream = new AcousticFrameStream();
  const result = (frames: FrameJobResult['frames'], why: FrameJobResult['why']): FrameJobResult => ({
    frames,
    why,
    stats: structuredClone(stream.stats),
    sessions: stream.openSessions,
    resamplers: stream.openResamplers,
  });
  return Promise.resolve({
    ready: null,
    handle: (job: FrameJob) => {
      switch (job.type) {
        case 'chunk': {
          const { samples, ...rest } = job.chunk;
          const chunk = { ...rest, samples: Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength) };
          const why = stream.accept(chunk);
          return Promise.resolve(result(stream.framesOf(chunk) ?? null, why));
        }
        case 'end':
          stream.end(job.sessionId);
          return Promise.resolve(result(null, null));
        case 'endAll':
          stream.endAll();
          return Promise.resolve(result(null, null));
      }
    },
    transferOf: (r) => (r.frames ? [r.frames.times.buffer as ArrayBuffer, r.frames.frames.buffer as ArrayBuffer] : []),
  });
});
