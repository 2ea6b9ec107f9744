/**
 * An ONNX graph run in a worker thread (the shared worker pool, src/workers/pool.ts), with the same
 * `Graph` interface as one loaded in this thread (./ort.ts `loadGraph`): callers need not know
 * where it runs. The voice path's encoder and its VAD use it, so that ONNX Runtime's `session.run`
 * (synchronous in onnxruntime-node) does not hold the event loop: in `bench/ceiling.ts` the voice
 * path in this thread cut the pipeline from 392 to 72 windows/s. Inputs are copied to the worker
 * (a caller may reuse them: the VAD's sample-rate tensor), outputs moved back. Recurrent state (the
 * VAD's h and c) travels in the feeds and outputs, so one worker serves any number of streams.
 */
import type { Logger } from '../log.js';
import { startWorkerPool } from '../workers/pool.js';
import type { ExecutionProviderName, Graph, GraphInputInfo, GraphTensor, LoadGraphOptions } from './ort.js';

export interface GraphPoolData {
  path: string;
  executionProvider: ExecutionProviderName;
  intraOpThreads?: number;
}

export interface GraphReady {
  provider: ExecutionProviderName;
  inputs: readonly GraphInputInfo[];
  outputNames: readonly string[];
}

export interface GraphJob {
  feeds: Readonly<Record<string, GraphTensor>>;
  fetches?: readonly string[];
}

/** Loads `options.path` in `workers` worker threads (default 1); `name` names the threads (`msa-<name>-<i>`) and errors. */
export async function loadGraphInWorkers(options: LoadGraphOptions & { name: string; workers?: number; logger: Logger }): Promise<Graph> {
  const { path, executionProvider, intraOpThreads, name, logger } = options;
  const pool = await startWorkerPool<GraphPoolData, GraphReady, GraphJob, Record<string, GraphTensor>>({
    here: import.meta.url,
    file: 'graphWorker',
    data: { path, executionProvider, ...(intraOpThreads !== undefined ? { intraOpThreads } : {}) },
    workers: options.workers ?? 1,
    name,
    loads: `the ONNX graph ${path}`,
    logger,
  }).catch((err: Error) => {
    throw new Error(`cannot load ONNX graph ${path} in a worker thread: ${err.message}`, { cause: err });
  });
  const { provider, inputs, outputNames } = pool.ready;
  return {
    path,
    requestedProvider: executionProvider,
    provider,
    inputs,
    outputNames,
    run: (feeds, fetches) => pool.run(fetches ? { feeds, fetches: [...fetches] } : { feeds }),
    stats: () => pool.stats(),
    release: () => pool.release(),
  };
}
