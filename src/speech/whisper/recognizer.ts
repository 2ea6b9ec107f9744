/**
 * Whisper speech recognition on the ONNX graphs of training/whisper/CONTRACT.md: log-mel (./mel.ts),
 * encoder once per batch of equal-length inputs, then greedy decoding with all rows of the batch
 * stepping together (finished rows are fed <|endoftext|>), token rules of whisper.json, text by
 * ./vocabulary.ts.
 *
 * Encoder input (`decoding`, section 6): `30s` pads every utterance to 3000 frames, as Whisper was
 * trained; `trim:MULTIPLE:MARGIN` sizes it to the utterance (frames + margin, rounded up), which
 * costs about T/3000 of the encoder but needs the repeat guard (`+guardK`: a row whose tokens end
 * with the same span of >= K tokens twice drops the second copy and ends). The default
 * `trim:100:50+guard4` is the contract's recommendation.
 *
 * Batching is exact: rows are grouped by encoder length T, so a batch gives each utterance the
 * result it gets alone (padding a row to a longer T would change it).
 */
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { loadGraph, type ExecutionProviderName, type Graph, type GraphTensor } from '../../model/ort.js';
import { readWhisperSpec, type WhisperModelName, type WhisperSpec } from './install.js';
import { contentFrames, copyFrames, logMel, N_FRAMES_30S, N_MELS, SAMPLE_RATE, trimmedFrames, type LogMel } from './mel.js';
import { Vocabulary } from './vocabulary.js';
import { beamDecode, promptFeeds } from './beam.js';

export const DEFAULT_DECODING = 'trim:100:50+guard4';
export const DEFAULT_MAX_BATCH = 8;
export const DEFAULT_MAX_UTTERANCE_S = 120;
/** Hypotheses kept per utterance; 1 = greedy decoding. */
export const DEFAULT_BEAM_SIZE = 1;

/** How the encoder input is sized and whether the repeat guard is on (CONTRACT.md section 6). */
export interface DecodingMode {
  /** false: every input padded to 3000 frames (30 s). */
  trim: boolean;
  multiple: number;
  margin: number;
  /** Smallest repeated span (tokens) that ends a row; 0 = off. */
  repeatGuard: number;
}

/** `30s` | `trim:MULTIPLE:MARGIN`, optionally followed by `+guardK`; `trim` alone = trim:100:50+guard4. */
export function parseDecodingMode(spec: string): DecodingMode {
  if (spec === 'trim') return { trim: true, multiple: 100, margin: 50, repeatGuard: 4 };
  const m = /^(?:(30s)|trim:(\d+):(\d+))(?:\+guard(\d+))?$/.exec(spec);
  if (!m) throw new RangeError(`decoding mode ${JSON.stringify(spec)}: expected 30s, trim or trim:MULTIPLE:MARGIN, optionally +guardK`);
  const repeatGuard = m[4] === undefined ? 0 : Number(m[4]);
  if (m[1]) return { trim: false, multiple: 100, margin: 0, repeatGuard };
  const mode = { trim: true, multiple: Number(m[2]), margin: Number(m[3]), repeatGuard };
  trimmedFrames(1, mode.multiple, mode.margin); // validates multiple and margin
  return mode;
}

/** Encoder length T of a window of `content` frames under `mode`. */
export function encoderFrames(content: number, mode: DecodingMode): number {
  return mode.trim ? trimmedFrames(content, mode.multiple, mode.margin) : N_FRAMES_30S;
}

/**
 * Length k of a span the sequence ends with twice in a row (tokens[-2k:-k] equals tokens[-k:],
 * k >= minSpan), else 0.
 */
export function endsInLoop(tokens: readonly number[], minSpan: number): number {
  const n = tokens.length;
  for (let k = Math.max(1, minSpan); k <= n / 2; k++) {
    let same = true;
    for (let i = 0; i < k && same; i++) same = tokens[n - k + i] === tokens[n - 2 * k + i];
    if (same) return k;
  }
  return 0;
}

export interface Transcript {
  /** Trimmed text; '' for an utterance shorter than one frame (10 ms). */
  text: string;
  /** Generated token ids (prompt and <|endoftext|> excluded), of all 30-s windows in order. */
  tokens: number[];
  /**
   * With `TranscribeOptions.voice`: the encoder's `block2` rows of this very run, pooled as it says
   * (`mean`: d values; `meanstd`: the mean then the standard deviation, 2d) over the positions that
   * cover the utterance (ceil(frames / 2) per 30-s window); null for an utterance shorter than one
   * frame. The voice path's input when its sizing equals the recogniser's.
   */
  voice?: Float64Array | null;
}

export interface TranscribeOptions {
  /** Overrides the recogniser's decoding mode for this call. */
  decoding?: string;
  /** Overrides the recogniser's largest batch for this call. */
  maxBatch?: number;
  /** Overrides the recogniser's beam size for this call (1 = greedy; ./beam.ts). */
  beamSize?: number;
  /** Also pool the encoder's block2 output of each utterance this way (`Transcript.voice`): one encoder pass for both jobs. */
  voice?: VoicePooling;
}

/** Encoder outputs of one batch: cross_k / cross_v [n_layer, B, T/2, d], hidden and block2 [B, T/2, d]. */
export interface EncoderOutput {
  batch: number;
  crossK: GraphTensor;
  crossV: GraphTensor;
  hidden: Float32Array;
  /** Residual stream after block 2 (CONTRACT.md section 2); null for a graph without that output. */
  block2: Float32Array | null;
}

export interface GreedyOptions {
  repeatGuard: number;
  /** Called with the first step's logits [B, n_vocab] after the suppress masks (-Infinity), for tests. */
  onFirstLogits?: (logits: Float32Array) => void;
}

export interface WhisperRecognizer {
  readonly model: string;
  readonly dir: string;
  readonly provider: ExecutionProviderName;
  readonly spec: WhisperSpec;
  readonly vocabulary: Vocabulary;
  /** The default decoding mode (`LoadWhisperOptions.decoding`). */
  readonly decoding: DecodingMode;
  /** Transcribes 16 kHz mono utterances in [-1, 1]; result i belongs to utterance i. */
  transcribe(utterances: readonly Float32Array[], options?: TranscribeOptions): Promise<Transcript[]>;
  /** Runs the encoder on mel [B, 80, T] (row-major). */
  encode(mel: Float32Array, batch: number, frames: number): Promise<EncoderOutput>;
  /** Runs the encoder on mel [B, 80, T] for its `block2` output [B, ceil(T/2), d] only (the voice path alone). */
  encodeBlock2(mel: Float32Array, batch: number, frames: number): Promise<Float32Array>;
  /** Greedy tokens per row of an encoded batch. */
  greedy(encoded: EncoderOutput, options: GreedyOptions): Promise<number[][]>;
  /** Beam-search tokens per row of an encoded batch (./beam.ts); beamSize 1 gives greedy's. */
  beam(encoded: EncoderOutput, options: { beamSize: number; repeatGuard: number }): Promise<number[][]>;
  /** The default beam size (`LoadWhisperOptions.beamSize`). */
  readonly beamSize: number;
  release(): Promise<void>;
}

export interface LoadWhisperOptions {
  model: WhisperModelName;
  /** The installed model directory (ensureWhisperModel): graphs beside model.bin and vocabulary.txt. */
  dir: string;
  executionProvider?: ExecutionProviderName;
  /** ONNX Runtime intra-op threads per graph; 0 or undefined = its default (all cores). */
  intraOpThreads?: number;
  /** Default decoding mode (DEFAULT_DECODING). */
  decoding?: string;
  /** Largest batch (DEFAULT_MAX_BATCH). */
  maxBatch?: number;
  /** Hypotheses per utterance (DEFAULT_BEAM_SIZE; 1 = greedy). */
  beamSize?: number;
  /** Longest utterance accepted, seconds (DEFAULT_MAX_UTTERANCE_S). */
  maxUtteranceS?: number;
  logger: Logger;
}

/** One encoder input: a window of up to 3000 frames of one utterance. */
interface WindowItem {
  utterance: number;
  window: number;
  mel: LogMel;
  start: number;
  frames: number;
}

export async function loadWhisper(options: LoadWhisperOptions): Promise<WhisperRecognizer> {
  const { model, dir, logger } = options;
  const log = logger.child({ module: 'whisper', model });
  const spec = readWhisperSpec(dir);
  const defaultMode = parseDecodingMode(options.decoding ?? DEFAULT_DECODING);
  const defaultBatch = checkBatch(options.maxBatch ?? DEFAULT_MAX_BATCH);
  const defaultBeam = checkBeam(options.beamSize ?? DEFAULT_BEAM_SIZE);
  const maxUtteranceS = options.maxUtteranceS ?? DEFAULT_MAX_UTTERANCE_S;
  if (!(maxUtteranceS > 0)) throw new RangeError(`maxUtteranceS must be positive, got ${maxUtteranceS}`);
  const { tokens: tc, dims } = spec;
  const vocabulary = Vocabulary.fromFile(join(dir, 'vocabulary.txt'), tc.eot, tc.n_vocab);
  const graphOptions = { executionProvider: options.executionProvider ?? 'cpu', intraOpThreads: options.intraOpThreads, logger: log };
  const t0 = performance.now();
  const encoder: Graph = await loadGraph({ ...graphOptions, path: join(dir, 'encoder.onnx') });
  let decoder: Graph;
  try {
    decoder = await loadGraph({ ...graphOptions, path: join(dir, 'decoder.onnx') });
  } catch (err) {
    await encoder.release();
    throw err;
  }
  const provider = encoder.provider === 'cuda' && decoder.provider === 'cuda' ? 'cuda' : 'cpu';
  log.info({ dir, provider, intraOpThreads: options.intraOpThreads, loadMs: Math.round(performance.now() - t0) }, `Whisper ${model} loaded on ${provider}`);

  const suppress = new Uint8Array(tc.n_vocab);
  for (const id of tc.suppress) suppress[id] = 1;
  const suppressFirst = suppress.slice();
  for (const id of tc.suppress_begin) suppressFirst[id] = 1;
  const suppressIds = [...tc.suppress];
  const suppressFirstIds = [...new Set([...tc.suppress, ...tc.suppress_begin])];
  const nLayer = dims.n_text_layer;
  const d = dims.d_model;
  const maxNew = tc.max_new_tokens;

  const encode = async (mel: Float32Array, batch: number, frames: number): Promise<EncoderOutput> => {
    if (mel.length !== batch * N_MELS * frames) throw new RangeError(`mel has ${mel.length} values, want ${batch} x ${N_MELS} x ${frames}`);
    const out = await encoder.run({ mel: { type: 'float32', data: mel, dims: [batch, N_MELS, frames] } });
    const block2 = out.block2 ? (out.block2.data as Float32Array) : null;
    return { batch, crossK: out.cross_k!, crossV: out.cross_v!, hidden: out.hidden!.data as Float32Array, block2 };
  };

  const encodeBlock2 = async (mel: Float32Array, batch: number, frames: number): Promise<Float32Array> => {
    if (mel.length !== batch * N_MELS * frames) throw new RangeError(`mel has ${mel.length} values, want ${batch} x ${N_MELS} x ${frames}`);
    if (!encoder.outputNames.includes('block2')) throw new Error(`${encoder.path} has no block2 output (the voice path needs it; reinstall the model)`);
    const out = await encoder.run({ mel: { type: 'float32', data: mel, dims: [batch, N_MELS, frames] } }, ['block2']);
    return out.block2!.data as Float32Array;
  };

  const greedy = async (encoded: EncoderOutput, opts: GreedyOptions): Promise<number[][]> => {
    const b = encoded.batch;
    const out: number[][] = Array.from({ length: b }, () => []);
    const done = new Uint8Array(b);
    let left = b;
    const first = promptFeeds(tc.prompt, b, nLayer, d);
    let tokens = first.tokens;
    let selfK = first.selfCache;
    let selfV = selfK;
    const next = new BigInt64Array(b);
    for (let step = 0; step < maxNew && left > 0; step++) {
      const r = await decoder.run({ tokens, self_k: selfK, self_v: selfV, cross_k: encoded.crossK, cross_v: encoded.crossV });
      selfK = r.self_k_out!;
      selfV = r.self_v_out!;
      const logits = r.logits!.data as Float32Array;
      const vocab = logits.length / b;
      const mask = step === 0 ? suppressFirst : suppress;
      if (step === 0 && opts.onFirstLogits) {
        const masked = logits.slice();
        for (let i = 0; i < b; i++) for (let v = 0; v < vocab; v++) if (mask[v]) masked[i * vocab + v] = -Infinity;
        opts.onFirstLogits(masked);
      }
      for (let i = 0; i < b; i++) {
        if (done[i]) {
          next[i] = BigInt(tc.eot);
          continue;
        }
        const row = i * vocab;
        let best = -1;
        let bestValue = -Infinity;
        for (let v = 0; v < vocab; v++) {
          const x = logits[row + v]!;
          if (x > bestValue && !mask[v]) {
            bestValue = x;
            best = v;
          }
        }
        const rowOut = out[i]!;
        if (best === tc.eot || best < 0) {
          done[i] = 1;
        } else {
          rowOut.push(best);
          const k = opts.repeatGuard > 0 ? endsInLoop(rowOut, opts.repeatGuard) : 0;
          if (k > 0) {
            rowOut.length -= k;
            done[i] = 1;
          }
        }
        if (done[i]) left--;
        next[i] = BigInt(done[i] ? tc.eot : best);
      }
      tokens = { type: 'int64', data: next.slice(), dims: [b, 1] };
    }
    return out;
  };

  const beam = async (encoded: EncoderOutput, opts: { beamSize: number; repeatGuard: number }): Promise<number[][]> =>
    beamDecode(
      async (feeds) => {
        const r = await decoder.run(feeds);
        return { logits: r.logits!.data as Float32Array, selfK: r.self_k_out!, selfV: r.self_v_out! };
      },
      encoded,
      {
        beamSize: checkBeam(opts.beamSize),
        repeatGuard: opts.repeatGuard,
        maxNew,
        eot: tc.eot,
        prompt: tc.prompt,
        suppress: suppressIds,
        suppressFirst: suppressFirstIds,
        nLayer,
        dModel: d,
        endsInLoop,
      },
    );

  const transcribe = async (utterances: readonly Float32Array[], opts: TranscribeOptions = {}): Promise<Transcript[]> => {
    const mode = opts.decoding === undefined ? defaultMode : parseDecodingMode(opts.decoding);
    const beamSize = opts.beamSize === undefined ? defaultBeam : checkBeam(opts.beamSize);
    const maxBatch = opts.maxBatch === undefined ? defaultBatch : checkBatch(opts.maxBatch);
    utterances.forEach((u, i) => {
      if (u.length > maxUtteranceS * SAMPLE_RATE) {
        throw new RangeError(`utterance ${i} lasts ${(u.length / SAMPLE_RATE).toFixed(1)} s, more than maxUtteranceS = ${maxUtteranceS} s; cut it first (VAD)`);
      }
    });
    const items: WindowItem[] = [];
    utterances.forEach((u, utterance) => {
      if (contentFrames(u.length) === 0) return;
      const mel = logMel(u);
      for (let start = 0, window = 0; start < mel.frames; start += N_FRAMES_30S, window++) {
        items.push({ utterance, window, mel, start, frames: encoderFrames(Math.min(N_FRAMES_30S, mel.frames - start), mode) });
      }
    });
    // Group equal T (stable: by utterance order within a T), at most maxBatch a group.
    const order = items.map((_, k) => k).sort((a, b) => items[a]!.frames - items[b]!.frames || a - b);
    const tokensOf = new Map<WindowItem, number[]>();
    const voiceSums = new Map<number, PooledSums>();
    for (let s = 0; s < order.length;) {
      const frames = items[order[s]!]!.frames;
      const group: WindowItem[] = [];
      for (; s < order.length && group.length < maxBatch && items[order[s]!]!.frames === frames; s++) group.push(items[order[s]!]!);
      const mel = new Float32Array(group.length * N_MELS * frames);
      group.forEach((it, row) => copyFrames(it.mel, it.start, frames, mel, row * N_MELS * frames));
      const encoded = await encode(mel, group.length, frames);
      if (opts.voice) {
        if (!encoded.block2) throw new Error(`${encoder.path} has no block2 output (the voice path needs it; reinstall the model)`);
        group.forEach((it, row) => {
          const covered = Math.ceil(Math.min(N_FRAMES_30S, it.mel.frames - it.start) / 2);
          addPooled(voiceSums, it.utterance, encoded.block2!, row, Math.ceil(frames / 2), d, covered);
        });
      }
      const rows = beamSize > 1 ? await beam(encoded, { beamSize, repeatGuard: mode.repeatGuard }) : await greedy(encoded, { repeatGuard: mode.repeatGuard });
      group.forEach((it, row) => tokensOf.set(it, rows[row]!));
    }
    const results: Transcript[] = utterances.map(() => ({ text: '', tokens: [] }));
    const raw: string[] = utterances.map(() => '');
    for (const it of items) {
      const t = tokensOf.get(it)!;
      results[it.utterance]!.tokens.push(...t);
      raw[it.utterance] += vocabulary.decodeRaw(t);
    }
    raw.forEach((r, i) => (results[i]!.text = r.trim()));
    if (opts.voice) results.forEach((r, i) => (r.voice = pooledVector(voiceSums.get(i), opts.voice!)));
    return results;
  };

  return {
    model,
    dir,
    provider,
    spec,
    vocabulary,
    decoding: defaultMode,
    beamSize: defaultBeam,
    transcribe,
    encode,
    encodeBlock2,
    greedy,
    beam,
    async release() {
      await Promise.all([encoder.release(), decoder.release()]);
    },
  };
}

function checkBeam(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > 16) throw new RangeError(`beamSize must be an integer in 1..16, got ${n}`);
  return n;
}

function checkBatch(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > 64) throw new RangeError(`maxBatch must be an integer in 1..64, got ${n}`);
  return n;
}

/** How an utterance's block2 rows become one vector: their mean (d), or their mean then standard deviation (2d). */
export type VoicePooling = 'mean' | 'meanstd';

/** Running sums of one utterance's block2 rows (addPooled), over all its 30-s windows. */
export interface PooledSums {
  sum: Float64Array;
  sumSq: Float64Array;
  positions: number;
}

/** Adds the first `covered` positions of one batch row of block2 [B, positions, dim] to the sums of `key`. */
export function addPooled(
  sums: Map<number, PooledSums>,
  key: number,
  block2: Float32Array,
  row: number,
  positions: number,
  dim: number,
  covered: number,
): void {
  if (!(covered >= 1 && covered <= positions)) throw new RangeError(`pool over ${covered} positions of ${positions}`);
  let acc = sums.get(key);
  if (!acc) sums.set(key, (acc = { sum: new Float64Array(dim), sumSq: new Float64Array(dim), positions: 0 }));
  const base = row * positions * dim;
  for (let p = 0; p < covered; p++) {
    for (let i = 0; i < dim; i++) {
      const x = block2[base + p * dim + i]!;
      acc.sum[i]! += x;
      acc.sumSq[i]! += x * x;
    }
  }
  acc.positions += covered;
}

/**
 * The pooled vector of running sums from addPooled; null when nothing was added. `meanstd`: the
 * mean, then the population standard deviation (numpy's `std`, as training's `pool`).
 */
export function pooledVector(acc: PooledSums | undefined, pooling: VoicePooling): Float64Array | null {
  if (!acc || acc.positions === 0) return null;
  const dim = acc.sum.length;
  const n = acc.positions;
  const out = new Float64Array(pooling === 'meanstd' ? 2 * dim : dim);
  for (let i = 0; i < dim; i++) {
    const mean = acc.sum[i]! / n;
    out[i] = mean;
    if (pooling === 'meanstd') out[dim + i] = Math.sqrt(Math.max(acc.sumSq[i]! / n - mean * mean, 0));
  }
  return out;
}
