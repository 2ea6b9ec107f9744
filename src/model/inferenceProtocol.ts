/** What the inference pool (./inferencePool.ts) gives its worker threads (./inferenceWorker.ts), and what they say once loaded. */
import type { PadIndex } from './batchTensors.js';
import type { ExecutionProviderName } from './ort.js';

export interface InferenceWorkerData {
  path: string;
  executionProvider: ExecutionProviderName;
  /** ONNX Runtime intra-op threads of the worker's session; 0 = its default (all cores). */
  threads: number;
  padIndex: PadIndex | undefined;
  /** Run a batch's rows one at a time (no padding, no batch-neighbour dependence). */
  perRow: boolean;
}

export interface InferenceReady {
  provider: ExecutionProviderName;
  kind: string | undefined;
}
