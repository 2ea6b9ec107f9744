/** Messages between the inference pool (./inferencePool.ts) and its worker threads (./inferenceWorker.ts). */
import type { PadIndex } from './batchTensors.js';
import type { ExecutionProviderName } from './ort.js';
import type { ModelInput, ModelOutput } from './types.js';

export interface InferenceWorkerData {
  path: string;
  executionProvider: ExecutionProviderName;
  /** ONNX Runtime intra-op threads of the worker's session; 0 = its default (all cores). */
  threads: number;
  padIndex: PadIndex | undefined;
  /** Run a batch's rows one at a time (no padding, no batch-neighbour dependence). */
  perRow: boolean;
}

export interface WorkerRequest {
  id: number;
  inputs: ModelInput[];
}

export type WorkerReply =
  | { type: 'ready'; provider: ExecutionProviderName; kind: string | undefined }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; outputs: ModelOutput[] }
  | { type: 'error'; id: number; message: string };
