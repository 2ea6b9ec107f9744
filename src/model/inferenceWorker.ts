/**
 * One inference worker thread (node:worker_threads): loads the sentiment model into its own ONNX
 * Runtime session and scores the batches the pool (./inferencePool.ts) posts to it, so that
 * `session.run`, which onnxruntime-node runs synchronously on the calling thread, never blocks the
 * pipeline's event loop.
 *
 * Protocol (structured clone; the pool is the only peer):
 *   -> { type: 'ready', provider, kind }             once the session is loaded and its contract checked
 *   -> { type: 'failed', message }                   the session could not be loaded (then the thread ends)
 *   <- { id, inputs: ModelInput[] }                  a batch
 *   -> { type: 'result', id, outputs: ModelOutput[] } its results, in input order
 *   -> { type: 'error', id, message }                the run threw (the thread goes on)
 */
import { parentPort, workerData } from 'node:worker_threads';
import { silentLogger } from '../log.js';
import { loadModel, type ModelSession } from './onnxSession.js';
import type { InferenceWorkerData, WorkerReply, WorkerRequest } from './inferenceProtocol.js';
import type { ModelInput, ModelOutput } from './types.js';

if (!parentPort) throw new Error('inferenceWorker.ts runs as a worker thread of the inference pool, not on its own');
const port = parentPort;
const data = workerData as InferenceWorkerData;
const reply = (message: WorkerReply) => port.postMessage(message);

/** Rows one at a time: no padding, and no row's result can depend on its batch neighbours. */
async function runRows(session: ModelSession, inputs: readonly ModelInput[]): Promise<ModelOutput[]> {
  const out: ModelOutput[] = [];
  for (const input of inputs) out.push(...(await session.run([input])));
  return out;
}

let session: ModelSession;
try {
  session = await loadModel({
    path: data.path,
    executionProvider: data.executionProvider,
    intraOpThreads: data.threads > 0 ? data.threads : undefined,
    padIndex: data.padIndex,
    logger: silentLogger, // the pool logs for its workers
  });
} catch (err) {
  reply({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
reply({ type: 'ready', provider: session.provider, kind: session.kind });

port.on('message', (request: WorkerRequest) => {
  const run = data.perRow ? runRows(session, request.inputs) : session.run(request.inputs);
  run.then(
    (outputs) => reply({ type: 'result', id: request.id, outputs }),
    (err: unknown) => reply({ type: 'error', id: request.id, message: err instanceof Error ? err.message : String(err) }),
  );
});
