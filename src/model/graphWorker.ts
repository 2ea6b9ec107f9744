/**
 * One worker thread of a graph pool (./graphPool.ts): loads an ONNX graph through the ONNX Runtime
 * adapter (./ort.ts) and runs it for each job, off the pipeline's event loop. Outputs are moved back
 * to the pool, not copied.
 */
import { silentLogger } from '../log.js';
import { serveWorker } from '../workers/serve.js';
import { loadGraph, type GraphTensor } from './ort.js';
import type { GraphJob, GraphPoolData, GraphReady } from './graphPool.js';

await serveWorker<GraphPoolData, GraphReady, GraphJob, Record<string, GraphTensor>>(async (data) => {
  const graph = await loadGraph({ ...data, logger: silentLogger });
  return {
    ready: { provider: graph.provider, inputs: graph.inputs, outputNames: graph.outputNames },
    handle: (job) => graph.run(job.feeds, job.fetches),
    transferOf: (out) => Object.values(out).map((t) => t.data.buffer as ArrayBuffer),
  };
});
