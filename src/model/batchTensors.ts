import { MODEL_INPUT_NAMES, type ModelInput, type ModelOutput } from './types.js';

/**
 * Turning windows into the model's int64 batch and its outputs back into per-window results.
 * Pure: no ONNX Runtime here, so padding and splitting are testable on their own.
 */

export type ModelInputName = (typeof MODEL_INPUT_NAMES)[number];

/** The codebook pad index per non-verbal modality: K for a codebook of K entries (indices 0..K-1). */
export interface PadIndex {
  acoustic: number;
  visual: number;
}

/** One int64 input of a batch, row-major. */
export interface Int64Batch {
  data: BigInt64Array;
  dims: [batch: number, length: number];
}

export type PaddedBatch = Record<ModelInputName, Int64Batch>;

/** The (ids, mask) pairs of the contract, with the value that pads the ids. */
function sequences(padIndex: PadIndex) {
  return [
    { ids: 'input_ids', mask: 'attention_mask', idsOf: (w: ModelInput) => w.inputIds, maskOf: (w: ModelInput) => w.attentionMask, pad: 0 },
    { ids: 'acoustic_ids', mask: 'acoustic_mask', idsOf: (w: ModelInput) => w.acousticIds, maskOf: (w: ModelInput) => w.acousticMask, pad: padIndex.acoustic },
    { ids: 'visual_ids', mask: 'visual_mask', idsOf: (w: ModelInput) => w.visualIds, maskOf: (w: ModelInput) => w.visualMask, pad: padIndex.visual },
  ] as const;
}

/**
 * Pads every sequence to the longest in the batch and packs it as int64, shape [B, L].
 * Text pads with id 0 and mask 0; acoustic and visual pad with the codebook's pad index K and
 * mask 0, so a padded position is exactly what an absent frame looks like to the model.
 */
export function padBatch(inputs: readonly ModelInput[], padIndex: PadIndex): PaddedBatch {
  if (inputs.length === 0) throw new RangeError('padBatch: empty batch; call with at least one window');
  const batch = inputs.length;
  const out = {} as PaddedBatch;
  for (const seq of sequences(padIndex)) {
    let length = 0;
    inputs.forEach((w, row) => {
      const ids = seq.idsOf(w);
      const mask = seq.maskOf(w);
      if (ids.length !== mask.length) {
        throw new RangeError(`row ${row}: ${seq.ids} has ${ids.length} entries but ${seq.mask} has ${mask.length}; they must match`);
      }
      if (ids.length === 0) {
        throw new RangeError(`row ${row}: ${seq.ids} is empty; an absent modality is one pad entry with mask 0`);
      }
      length = Math.max(length, ids.length);
    });
    const ids = new BigInt64Array(batch * length).fill(BigInt(seq.pad));
    const mask = new BigInt64Array(batch * length); // zero: padding is masked out
    const idWords = new Int32Array(ids.buffer);
    const maskWords = new Int32Array(mask.buffer);
    inputs.forEach((w, row) => {
      copyInt64(seq.idsOf(w), ids, idWords, row * length, row, seq.ids);
      copyInt64(seq.maskOf(w), mask, maskWords, row * length, row, seq.mask);
    });
    out[seq.ids] = { data: ids, dims: [batch, length] };
    out[seq.mask] = { data: mask, dims: [batch, length] };
  }
  return out;
}

// Writing an int32 as the two 32-bit words of an int64 avoids a BigInt per element (ids and
// masks are small); other safe integers take the BigInt path. Little-endian word order.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function copyInt64(from: readonly number[], to: BigInt64Array, words: Int32Array, offset: number, row: number, name: string): void {
  for (let i = 0; i < from.length; i++) {
    const v = from[i] as number;
    if (LITTLE_ENDIAN && (v | 0) === v) {
      words[2 * (offset + i)] = v;
      words[2 * (offset + i) + 1] = v < 0 ? -1 : 0;
    } else if (Number.isSafeInteger(v)) {
      to[offset + i] = BigInt(v);
    } else {
      throw new RangeError(`row ${row}: ${name}[${i}] = ${v} is not an integer`);
    }
  }
}

/** Splits the model's batch outputs, score [B] and contributions [B, 3], into one result per row. */
export function splitOutputs(score: ArrayLike<number>, contributions: ArrayLike<number>, batch: number): ModelOutput[] {
  if (score.length !== batch) throw new RangeError(`model output score has ${score.length} values for a batch of ${batch}; expected shape [${batch}]`);
  if (contributions.length !== batch * 3) {
    throw new RangeError(`model output contributions has ${contributions.length} values for a batch of ${batch}; expected shape [${batch}, 3]`);
  }
  const rows: ModelOutput[] = new Array(batch);
  for (let b = 0; b < batch; b++) {
    rows[b] = {
      score: Number(score[b]),
      contributions: { text: Number(contributions[b * 3]), audio: Number(contributions[b * 3 + 1]), video: Number(contributions[b * 3 + 2]) },
    };
  }
  return rows;
}
