/**
 * Codebooks: k-means over standardised feature vectors of one modality (as in CENet), saved as a
 * versioned JSON artifact with the standardisation statistics, and a quantiser that maps a vector
 * to the index of its nearest centroid ("acoustic words", "visual words").
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { kmeans } from 'ml-kmeans';
import { z } from 'zod';
import { median } from '../arrays.js';

export const CODEBOOK_VERSION = 1;
export type Modality = 'acoustic' | 'visual';

export const codebookSchema = z.object({
  version: z.literal(CODEBOOK_VERSION),
  modality: z.enum(['acoustic', 'visual']),
  k: z.number().int().positive(),
  dim: z.number().int().positive(),
  featureNames: z.array(z.string()),
  mean: z.array(z.number()),
  std: z.array(z.number()),
  centroids: z.array(z.array(z.number())),
  fittedOn: z.object({
    vectors: z.number().int(),
    sources: z.array(z.string()),
    seed: z.number().int(),
    iterations: z.number().int(),
    inertia: z.number(),
    createdAt: z.string(),
  }),
  /**
   * Inputs unlike the training data: a sequence (a window's vectors, an utterance) whose median
   * distance to the nearest centroid exceeds `maxMedianDistance` gives no ids (the modality is
   * absent for the model). Optional; `python -m training.codebook_gate` sets it.
   */
  gate: z
    .object({
      maxMedianDistance: z.number().positive(),
      statistic: z.string(),
      fittedOn: z.string(),
    })
    .optional(),
  /**
   * Per-sequence normalisation before quantising (acoustic): each sequence (a window's vectors, an
   * utterance) is z-scored with its own mean and variance, shrunk towards `mean` / `std` (the raw
   * train vectors' statistics) as if `priorVectors` vectors with those statistics came first. It
   * removes what a speaker, microphone or room adds to every vector of a sequence; a short
   * sequence leans on the prior. Optional; `msa codebook fit --sequence-norm N` sets it.
   */
  sequenceNorm: z
    .object({
      priorVectors: z.number().positive(),
      mean: z.array(z.number()),
      std: z.array(z.number().positive()),
    })
    .optional(),
});
export type Codebook = z.infer<typeof codebookSchema>;

export interface FitOptions {
  modality: Modality;
  featureNames: readonly string[];
  k?: number;
  seed?: number;
  maxIterations?: number;
  sources?: string[];
}

export type SequenceNorm = NonNullable<Codebook['sequenceNorm']>;

/**
 * A sequence z-scored with its own statistics shrunk towards the prior (see `sequenceNorm`):
 * mean = (n0 m + sum x) / (n0 + n), var = (n0 (s^2 + m^2) + sum x^2) / (n0 + n) - mean^2.
 * training/msa_model/codebook.py `JsonCodebook` computes the same, in the same order.
 */
export function normaliseSequence(vectors: readonly ArrayLike<number>[], norm: SequenceNorm): number[][] {
  const dim = norm.mean.length;
  const n0 = norm.priorVectors;
  const n = vectors.length;
  const s1 = new Float64Array(dim);
  const s2 = new Float64Array(dim);
  for (const v of vectors) {
    if (v.length !== dim) throw new RangeError(`vector has ${v.length} values, the sequence normalisation expects ${dim}`);
    for (let j = 0; j < dim; j++) {
      s1[j]! += v[j]!;
      s2[j]! += v[j]! * v[j]!;
    }
  }
  const mu = new Float64Array(dim);
  const sd = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    const m = norm.mean[j]!;
    const s = norm.std[j]!;
    mu[j] = (n0 * m + s1[j]!) / (n0 + n);
    sd[j] = Math.sqrt(Math.max((n0 * (s * s + m * m) + s2[j]!) / (n0 + n) - mu[j]! * mu[j]!, 1e-12));
  }
  return vectors.map((v) => Array.from({ length: dim }, (_, j) => (v[j]! - mu[j]!) / sd[j]!));
}

/** Mean and standard deviation per column; std floors at 1e-8 so constant columns stay finite. */
export function standardisation(vectors: readonly (readonly number[])[], dim: number): { mean: number[]; std: number[] } {
  const mean = new Array<number>(dim).fill(0);
  const sq = new Array<number>(dim).fill(0);
  for (const v of vectors) for (let j = 0; j < dim; j++) mean[j]! += v[j]!;
  for (let j = 0; j < dim; j++) mean[j] = mean[j]! / vectors.length;
  for (const v of vectors) for (let j = 0; j < dim; j++) sq[j]! += (v[j]! - mean[j]!) ** 2;
  const std = sq.map((s) => Math.max(Math.sqrt(s / vectors.length), 1e-8));
  return { mean, std };
}

/** Fits a codebook with k-means++ (seeded, so the same data gives the same codebook). */
export function fitCodebook(vectors: readonly (readonly number[])[], options: FitOptions): Codebook {
  const { modality, featureNames, k = 32, seed = 42, maxIterations = 100, sources = [] } = options;
  const dim = featureNames.length;
  if (vectors.length < k) throw new Error(`cannot fit a ${modality} codebook with k=${k} on ${vectors.length} vectors; featurize more data or lower --k`);
  checkDimensions(vectors, options);
  const { mean, std } = standardisation(vectors, dim);
  const data = vectors.map((v) => v.map((x, j) => (x - mean[j]!) / std[j]!));
  const result = kmeans(data, k, { seed, initialization: 'kmeans++', maxIterations });
  const centroids = result.centroids.map((c) => c.map((x) => +x.toPrecision(7)));
  let inertia = 0;
  for (const [i, v] of data.entries()) inertia += squaredDistance(v, result.centroids[result.clusters[i]!]!);
  return {
    version: CODEBOOK_VERSION,
    modality,
    k,
    dim,
    featureNames: [...featureNames],
    mean,
    std,
    centroids,
    fittedOn: { vectors: vectors.length, sources, seed, iterations: result.iterations, inertia, createdAt: new Date().toISOString() },
  };
}

/**
 * Fits a codebook on sequences normalised one by one (`normaliseSequence`, prior weight
 * `priorVectors`, prior statistics those of all the raw vectors) and records the normalisation, so
 * quantising applies it the same way.
 */
export function fitNormalisedCodebook(sequences: readonly (readonly number[])[][], priorVectors: number, options: FitOptions): Codebook {
  if (!(priorVectors > 0)) throw new RangeError(`sequence normalisation needs a positive prior weight, got ${priorVectors}`);
  const raw = sequences.flat();
  checkDimensions(raw, options);
  const { mean, std } = standardisation(raw, options.featureNames.length);
  const sequenceNorm: SequenceNorm = { priorVectors, mean, std };
  return {
    ...fitCodebook(
      sequences.flatMap((s) => normaliseSequence(s, sequenceNorm)),
      options,
    ),
    sequenceNorm,
  };
}

/** Every vector has one value per feature name, or a clear error naming the first that does not. */
function checkDimensions(vectors: readonly (readonly number[])[], { modality, featureNames }: FitOptions): void {
  const dim = featureNames.length;
  for (const [i, v] of vectors.entries()) {
    if (v.length !== dim) throw new Error(`${modality} vector ${i} has ${v.length} values, expected ${dim} (${featureNames.slice(0, 3).join(', ')}, ...)`);
  }
}

function squaredDistance(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j]! - b[j]!) ** 2;
  return s;
}

/** Maps raw (unstandardised) vectors to centroid indices. */
export class Quantiser {
  readonly k: number;
  readonly dim: number;
  private readonly flat: Float64Array;
  private readonly scratch: Float64Array;

  constructor(readonly codebook: Codebook) {
    this.k = codebook.k;
    this.dim = codebook.dim;
    this.flat = Float64Array.from(codebook.centroids.flat());
    this.scratch = new Float64Array(this.dim);
  }

  /** Index of the nearest centroid (squared Euclidean distance in standardised space); no sequence normalisation. */
  quantise(vector: ArrayLike<number>): number {
    return this.nearest(vector).index;
  }

  /** The nearest centroid and the Euclidean distance to it, in standardised space. */
  nearest(vector: ArrayLike<number>): { index: number; distance: number } {
    if (vector.length !== this.dim) throw new RangeError(`${this.codebook.modality} vector has ${vector.length} values, the codebook expects ${this.dim}`);
    const { mean, std } = this.codebook;
    for (let j = 0; j < this.dim; j++) this.scratch[j] = (vector[j]! - mean[j]!) / std[j]!;
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < this.k; c++) {
      let d = 0;
      const o = c * this.dim;
      for (let j = 0; j < this.dim && d < bestD; j++) d += (this.scratch[j]! - this.flat[o + j]!) ** 2;
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    return { index: best, distance: Math.sqrt(bestD) };
  }

  /**
   * Ids of a sequence of vectors, or none when the codebook's gate finds the sequence unlike the
   * training data (median nearest-centroid distance above `gate.maxMedianDistance`). A codebook
   * with `sequenceNorm` normalises the sequence first; use this, not `quantise`, for sequences.
   */
  quantiseGated(vectors: readonly ArrayLike<number>[]): { ids: number[]; medianDistance: number | null; gated: boolean } {
    const norm = this.codebook.sequenceNorm;
    const found = (norm ? normaliseSequence(vectors, norm) : vectors).map((v) => this.nearest(v));
    const medianDistance = median(found.map((f) => f.distance));
    const gate = this.codebook.gate;
    const gated = gate !== undefined && medianDistance !== null && medianDistance > gate.maxMedianDistance;
    return { ids: gated ? [] : found.map((f) => f.index), medianDistance, gated };
  }

  /** Indices of a sequence; `null` entries (no face) map to `padIndex` (default k, the padding id). */
  quantiseSequence(vectors: readonly (ArrayLike<number> | null)[], padIndex = this.k): number[] {
    return vectors.map((v) => (v === null ? padIndex : this.quantise(v)));
  }
}

export async function saveCodebook(path: string, codebook: Codebook): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(codebook, null, 1)}\n`);
}

export async function loadCodebook(path: string): Promise<Codebook> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read codebook ${path}: ${(e as Error).message}`);
  }
  const parsed = codebookSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      `codebook ${path} is not a version ${CODEBOOK_VERSION} codebook: ${parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')}`,
    );
  const cb = parsed.data;
  if (
    cb.centroids.length !== cb.k ||
    cb.centroids.some((c) => c.length !== cb.dim) ||
    cb.mean.length !== cb.dim ||
    cb.std.length !== cb.dim ||
    cb.featureNames.length !== cb.dim
  ) {
    throw new Error(`codebook ${path}: shapes disagree with k=${cb.k}, dim=${cb.dim}`);
  }
  if (cb.sequenceNorm && (cb.sequenceNorm.mean.length !== cb.dim || cb.sequenceNorm.std.length !== cb.dim)) {
    throw new Error(`codebook ${path}: sequenceNorm has ${cb.sequenceNorm.mean.length} means and ${cb.sequenceNorm.std.length} stds, expected dim=${cb.dim}`);
  }
  return cb;
}

/** What a model manifest says about its codebooks (a `ModelManifest` is one). */
export interface CodebookRefs {
  manifestPath: string;
  codebookFiles: Record<Modality, string | null>;
  padIndex: Record<Modality, number>;
}

/** The codebooks a model manifest names, loaded; null for a modality whose codebook names no file. */
export interface ManifestCodebooks {
  acoustic: Codebook | null;
  visual: Codebook | null;
}

/**
 * Loads the codebooks named in a model manifest (`model/manifest.ts`) and checks them against it: the codebook's
 * modality is the one it is named for, and its k equals that modality's pad index (the model's
 * embeddings hold ids 0..k-1 and the pad id k). Errors name the manifest, the file and both values.
 */
export async function loadManifestCodebooks(manifest: CodebookRefs): Promise<ManifestCodebooks> {
  const load = async (modality: 'acoustic' | 'visual'): Promise<Codebook | null> => {
    const file = manifest.codebookFiles[modality];
    if (file === null) return null;
    const codebook = await loadCodebook(file);
    const where = `model manifest ${manifest.manifestPath}: codebooks.${modality}.file ${file}`;
    if (codebook.modality !== modality) throw new Error(`${where} is a ${codebook.modality} codebook, not a ${modality} one; name the right file`);
    const pad = manifest.padIndex[modality];
    if (codebook.k !== pad) {
      throw new Error(
        `${where} has k=${codebook.k} but the model's ${modality} pad index is ${pad}; the pad index must equal k (refit with --k ${pad} or use the codebook the model was trained with)`,
      );
    }
    return codebook;
  };
  const [acoustic, visual] = await Promise.all([load('acoustic'), load('visual')]);
  return { acoustic, visual };
}
