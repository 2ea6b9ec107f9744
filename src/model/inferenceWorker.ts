/**
 * One inference worker thread (node:worker_threads): loads the sentiment model into its own ONNX
 * Runtime session and scores the batches the pool (./inferencePool.ts) posts to it, so that
 * `session.run`, which onnxruntime-node runs synchronously on the calling thread, never blocks the
 * pipeline's event loop. Job in: a batch (ModelInput[]); result: its outputs, in input order;
 * ready: the provider the session runs on and the graph's kind (src/workers/serve.ts).
 */
import { silentLogger } from '../log.js';
import { serveWorker } from '../workers/serve.js';
import { loadModel, type ModelSession } from './onnxSession.js';
import type { InferenceReady, InferenceWorkerData } from './inferenceProtocol.js';
import type { ModelInput, ModelOutput } from './types.js';

/** Rows one at a time: no padding, and no row's result can depend on its batch neighbours. */
async function runRows(session: ModelSession, inputs: readonly ModelInput[]): Promise<ModelOutput[]> {
  const out: ModelOutput[] = [];
  for (const input of inputs) out.push(...(await session.run([input])));
  return out;
}

await serveWorker<InferenceWorkerData, InferenceReady, ModelInput[], ModelOutput[]>(async (data) => {
  const session = await loadModel({
    path: data.path,
    executionProvider: data.executionProvider,
    intraOpThreads: data.threads > 0 ? data.threads : undefined,
    padIndex: data.padIndex,
    logger: silentLogger, // the pool logs for its workers
  });
  return {
    ready: { provider: session.provider, kind: session.kind },
    handle: (inputs) => (data.perRow ? runRows(session, inputs) : session.run(inputs)),
  };
});
