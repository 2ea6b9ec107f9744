/**
 * The worker-thread side of a worker pool (./pool.ts): loads what the jobs need once, says
 * `ready` (or `failed`, then the thread ends), and answers each job with its result or its error.
 * Jobs are handled one at a time in arrival order (the pool sends a worker one job at a time).
 */
import { parentPort, workerData, type TransferListItem } from 'node:worker_threads';
import type { JobRequest, WorkerReply } from './protocol.js';

export interface Served<Ready, Req, Res> {
  /** Sent to the pool once loaded (the provider a model runs on, say). */
  ready: Ready;
  handle(request: Req): Promise<Res>;
  /** Buffers of a result to move to the pool instead of copying them. */
  transferOf?: (result: Res) => TransferListItem[];
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Runs in a worker thread: `load` gets the pool's workerData. */
export async function serveWorker<Data, Ready, Req, Res>(load: (data: Data) => Promise<Served<Ready, Req, Res>>): Promise<void> {
  if (!parentPort) throw new Error('this module runs as a worker thread of a worker pool (src/workers/pool.ts), not on its own');
  const port = parentPort;
  const reply = (message: WorkerReply<Ready, Res>, transfer?: TransferListItem[]) => port.postMessage(message, transfer);
  let served: Served<Ready, Req, Res>;
  try {
    served = await load(workerData as Data);
  } catch (err) {
    reply({ type: 'failed', message: messageOf(err) });
    process.exit(1);
  }
  reply({ type: 'ready', info: served.ready });
  port.on('message', ({ id, request }: JobRequest<Req>) => {
    served.handle(request).then(
      (result) => reply({ type: 'result', id, result }, served.transferOf?.(result)),
      (err: unknown) => reply({ type: 'error', id, message: messageOf(err) }),
    );
  });
}
