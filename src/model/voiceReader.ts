/**
 * The voice reader of issue 11 (models/voice/reader.json, written by
 * `python -m training.experiments.voice_reader`): a per-session running normaliser of pooled
 * Whisper block-2 vectors, shrunk towards the training prior with weight n0 (so the first
 * utterance of a call is z-scored mostly with the prior), then a ridge read-out to a valence
 * score in [-3, 3]. Pure code: the same formulas as training/experiments/normalise.py
 * (running_normalise_session) and voice_reader.py, in float64. Not wired into the pipeline yet.
 */
import { readFile } from 'node:fs/promises';

export interface VoiceReader {
  dim: number;
  n0: number;
  priorMean: Float64Array;
  priorStd: Float64Array;
  xMean: Float64Array;
  xStd: Float64Array;
  coef: Float64Array;
  intercept: number;
}

function vector(json: unknown, name: string, dim?: number): Float64Array {
  if (!Array.isArray(json) || json.length === 0 || !json.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new RangeError(`voice reader: ${name} must be a non-empty array of finite numbers`);
  }
  if (dim !== undefined && json.length !== dim) throw new RangeError(`voice reader: ${name} has ${json.length} values, expected ${dim}`);
  return Float64Array.from(json as number[]);
}

export function parseVoiceReader(json: unknown): VoiceReader {
  const o = json as { normaliser?: Record<string, unknown>; reader?: Record<string, unknown> };
  if (!o?.normaliser || !o.reader) throw new RangeError('voice reader: expected the objects "normaliser" and "reader"');
  const coef = vector(o.reader.coef, 'reader.coef');
  const dim = coef.length;
  const n0 = o.normaliser.n0;
  if (typeof n0 !== 'number' || !(n0 > 0)) throw new RangeError(`voice reader: normaliser.n0 must be a positive number, got ${JSON.stringify(n0)}`);
  const intercept = o.reader.intercept;
  if (typeof intercept !== 'number' || !Number.isFinite(intercept)) throw new RangeError(`voice reader: reader.intercept must be a finite number`);
  const positive = (v: Float64Array, name: string) => {
    if (v.some((x) => !(x > 0))) throw new RangeError(`voice reader: ${name} must be positive`);
    return v;
  };
  return {
    dim,
    n0,
    priorMean: vector(o.normaliser.prior_mean, 'normaliser.prior_mean', dim),
    priorStd: positive(vector(o.normaliser.prior_std, 'normaliser.prior_std', dim), 'normaliser.prior_std'),
    xMean: vector(o.reader.x_mean, 'reader.x_mean', dim),
    xStd: positive(vector(o.reader.x_std, 'reader.x_std', dim), 'reader.x_std'),
    coef,
    intercept,
  };
}

export async function loadVoiceReader(path: string): Promise<VoiceReader> {
  return parseVoiceReader(JSON.parse(await readFile(path, 'utf8')));
}

/**
 * One session's state: running sums of its pooled vectors. k-th vector x_k (1-based):
 *   mu_k = (n0 m + sum_{j<=k} x_j) / (n0 + k)
 *   var_k = (n0 (s^2 + m^2) + sum_{j<=k} x_j^2) / (n0 + k) - mu_k^2
 *   z_k = (x_k - mu_k) / sqrt(max(var_k, 1e-12))
 * Before any utterance nothing is scored; from the first one on the prior (weight n0) steadies
 * the statistics. Drop the object when the session ends: that frees its state.
 */
export class VoiceSession {
  private readonly s1: Float64Array;
  private readonly s2: Float64Array;
  private count = 0;

  constructor(private readonly reader: VoiceReader) {
    this.s1 = new Float64Array(reader.dim);
    this.s2 = new Float64Array(reader.dim);
  }

  get utterances(): number {
    return this.count;
  }

  /** Adds one utterance's pooled vector; returns its normalised vector z. */
  normalise(pooled: ArrayLike<number>): Float64Array {
    const { dim, n0, priorMean, priorStd } = this.reader;
    if (pooled.length !== dim) throw new RangeError(`voice vector has ${pooled.length} values, the reader expects ${dim}`);
    for (let i = 0; i < dim; i++) if (!Number.isFinite(pooled[i]!)) throw new RangeError(`voice vector value ${i} is ${pooled[i]}`);
    this.count++;
    const k = this.count;
    const z = new Float64Array(dim);
    for (let i = 0; i < dim; i++) {
      const x = pooled[i]!;
      this.s1[i]! += x;
      this.s2[i]! += x * x;
      const m = priorMean[i]!;
      const s = priorStd[i]!;
      const mu = (n0 * m + this.s1[i]!) / (n0 + k);
      const v = (n0 * (s * s + m * m) + this.s2[i]!) / (n0 + k) - mu * mu;
      z[i] = (x - mu) / Math.sqrt(Math.max(v, 1e-12));
    }
    return z;
  }

  /** Adds one utterance and returns its valence score in [-3, 3]. */
  score(pooled: ArrayLike<number>): number {
    return readValence(this.reader, this.normalise(pooled));
  }
}

export function readValence(reader: VoiceReader, z: ArrayLike<number>): number {
  let y = reader.intercept;
  for (let i = 0; i < reader.dim; i++) y += ((z[i]! - reader.xMean[i]!) / reader.xStd[i]!) * reader.coef[i]!;
  return Math.min(3, Math.max(-3, y));
}

/** Mean over the first `positions` rows of one batch row of block2 [B, S, d] (row-major). */
export function meanPool(block2: Float32Array, row: number, frames: number, dim: number, positions: number): Float64Array {
  if (!(positions >= 1 && positions <= frames)) throw new RangeError(`pool over ${positions} positions of ${frames}`);
  const out = new Float64Array(dim);
  const base = row * frames * dim;
  for (let p = 0; p < positions; p++) for (let i = 0; i < dim; i++) out[i]! += block2[base + p * dim + i]!;
  for (let i = 0; i < dim; i++) out[i]! /= positions;
  return out;
}
