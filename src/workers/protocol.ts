/** Messages between a worker pool (./pool.ts) and its worker threads (./serve.ts). */

/** Pool -> worker: one job. */
export interface JobRequest<Req> {
  id: number;
  request: Req;
}

/** Worker -> pool. */
export type WorkerReply<Ready, Res> =
  | { type: 'ready'; info: Ready }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; result: Res }
  | { type: 'error'; id: number; message: string };
