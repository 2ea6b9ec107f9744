/**
 * Beam search over Whisper's decoder graph, as openai-whisper's `BeamSearchDecoder` with patience
 * 1 and no length penalty (faster-whisper's default decoding uses a beam of 5 too):
 *
 * - Each utterance keeps `beamSize` hypotheses; the decoder runs on batch x beamSize rows, the
 *   encoder's cross-attention keys and values repeated per beam, the self-attention cache
 *   reordered each step to follow the hypotheses that survived.
 * - A step scores every hypothesis' `beamSize + 1` most likely next tokens (log-softmax over the
 *   tokens the suppress mask leaves), sorts the candidates by their summed log-probability, moves
 *   those ending in <|endoftext|> to the utterance's finished list and keeps the best `beamSize`
 *   others. At the first step all hypotheses are the prompt, so only the first one is expanded.
 * - An utterance is done once `beamSize` hypotheses have finished, or at the token limit.
 * - The answer is the finished hypothesis with the best summed log-probability divided by its
 *   length in tokens (openai-whisper's MaximumLikelihoodRanker without a length penalty); with
 *   none finished, the live ones compete.
 * - The repeat guard of greedy decoding (recognizer.ts `endsInLoop`) applies per hypothesis: one
 *   whose tokens end with the same span twice drops the second copy and finishes.
 *
 * With `beamSize` 1 this is greedy decoding (test/unit/whisperBeam.test.ts holds it to greedy's tokens).
 */
import type { GraphTensor } from '../../model/ort.js';

export interface BeamOptions {
  beamSize: number;
  repeatGuard: number;
  /** Most tokens generated (the spec's `max_new_tokens`). */
  maxNew: number;
  eot: number;
  prompt: readonly number[];
  /** Token ids suppressed at every step / at the first step (the latter includes the former). */
  suppress: readonly number[];
  suppressFirst: readonly number[];
  nLayer: number;
  dModel: number;
  /** Length k of a span the tokens end with twice (0 = none); recognizer.ts `endsInLoop`. */
  endsInLoop: (tokens: readonly number[], minSpan: number) => number;
}

/** One decoder step: the graph's `logits` [R, 1 or prompt, V] of the last position and the new self caches. */
export type DecoderStep = (feeds: { tokens: GraphTensor; self_k: GraphTensor; self_v: GraphTensor; cross_k: GraphTensor; cross_v: GraphTensor }) => Promise<{
  logits: Float32Array;
  selfK: GraphTensor;
  selfV: GraphTensor;
}>;

interface Hypothesis {
  tokens: number[];
  logp: number;
}

/** Repeats each batch row of a [n_layer, B, ...] tensor `times` times: [n_layer, B * times, ...]. */
export function repeatRows(t: GraphTensor, times: number): GraphTensor {
  if (t.type !== 'float32') throw new TypeError('repeatRows: float32 tensors only');
  if (times === 1) return t;
  const [layers, batch, ...rest] = t.dims as number[];
  const rowSize = rest.reduce((a, b) => a * b, 1);
  const out = new Float32Array(t.data.length * times);
  for (let l = 0; l < layers!; l++) {
    for (let b = 0; b < batch!; b++) {
      const src = t.data.subarray((l * batch! + b) * rowSize, (l * batch! + b + 1) * rowSize);
      for (let k = 0; k < times; k++) out.set(src, ((l * batch! + b) * times + k) * rowSize);
    }
  }
  return { type: 'float32', data: out, dims: [layers!, batch! * times, ...rest] };
}

/** Rows of a [n_layer, R, ...] tensor picked by `sources` (new row r = old row sources[r]). */
export function gatherRows(t: GraphTensor, sources: readonly number[]): GraphTensor {
  if (t.type !== 'float32') throw new TypeError('gatherRows: float32 tensors only');
  const [layers, rows, ...rest] = t.dims as number[];
  if (sources.length !== rows) throw new RangeError(`gatherRows: ${sources.length} sources for ${rows} rows`);
  if (sources.every((s, r) => s === r)) return t;
  const rowSize = rest.reduce((a, b) => a * b, 1);
  const out = new Float32Array(t.data.length);
  for (let l = 0; l < layers!; l++) {
    for (let r = 0; r < rows!; r++) {
      const from = (l * rows! + sources[r]!) * rowSize;
      out.set(t.data.subarray(from, from + rowSize), (l * rows! + r) * rowSize);
    }
  }
  return { type: 'float32', data: out, dims: t.dims };
}

/**
 * The `k` most likely tokens of one row of logits (suppressed tokens set to -Infinity), with their
 * log-probabilities (log-softmax over the row), best first; ties go to the lower token id.
 */
export function topLogProbs(row: Float32Array, k: number): { token: number; logp: number }[] {
  // One pass for the k best logits (their max is the row's max), one for the normaliser.
  const best: { token: number; logit: number }[] = [];
  let floor = -Infinity;
  for (let v = 0; v < row.length; v++) {
    const x = row[v]!;
    if (x <= floor && (best.length === k || x === -Infinity)) continue;
    let at = best.length;
    while (at > 0 && best[at - 1]!.logit < x) at--;
    best.splice(at, 0, { token: v, logit: x });
    if (best.length > k) best.pop();
    if (best.length === k) floor = best[k - 1]!.logit;
  }
  if (best.length === 0) return [];
  const max = best[0]!.logit;
  let sum = 0;
  for (let v = 0; v < row.length; v++) sum += Math.exp(row[v]! - max);
  const logZ = max + Math.log(sum);
  return best.map((b) => ({ token: b.token, logp: b.logit - logZ }));
}

/** Row `r` of logits [R, V] with the suppressed ids set to -Infinity, in `into`. */
function maskedRow(logits: Float32Array, r: number, suppressed: readonly number[], into: Float32Array): Float32Array {
  into.set(logits.subarray(r * into.length, (r + 1) * into.length));
  for (const id of suppressed) into[id] = -Infinity;
  return into;
}

/** The decoder's first-step inputs for `rows` rows: the prompt in each, and empty self-attention caches. */
export function promptFeeds(prompt: readonly number[], rows: number, nLayer: number, dModel: number): { tokens: GraphTensor; selfCache: GraphTensor } {
  return {
    tokens: {
      type: 'int64',
      data: BigInt64Array.from({ length: rows * prompt.length }, (_, i) => BigInt(prompt[i % prompt.length]!)),
      dims: [rows, prompt.length],
    },
    selfCache: { type: 'float32', data: new Float32Array(0), dims: [nLayer, rows, 0, dModel] },
  };
}

/** Token ids of the best hypothesis per row of the batch, prompt and <|endoftext|> excluded. */
export async function beamDecode(step: DecoderStep, encoded: { batch: number; crossK: GraphTensor; crossV: GraphTensor }, o: BeamOptions): Promise<number[][]> {
  const K = o.beamSize;
  const B = encoded.batch;
  const R = B * K;
  const crossK = repeatRows(encoded.crossK, K);
  const crossV = repeatRows(encoded.crossV, K);
  const beams: Hypothesis[][] = Array.from({ length: B }, () => [{ tokens: [], logp: 0 }]);
  const finished: Hypothesis[][] = Array.from({ length: B }, () => []);
  const done = new Uint8Array(B);
  let left = B;
  const first = promptFeeds(o.prompt, R, o.nLayer, o.dModel);
  let tokens = first.tokens;
  let selfK = first.selfCache;
  let selfV = selfK;
  for (let t = 0; t < o.maxNew && left > 0; t++) {
    const r = await step({ tokens, self_k: selfK, self_v: selfV, cross_k: crossK, cross_v: crossV });
    const vocab = r.logits.length / R;
    const suppressed = t === 0 ? o.suppressFirst : o.suppress;
    const scratch = new Float32Array(vocab);
    const sources: number[] = Array.from({ length: R }, (_, row) => row);
    const next = new BigInt64Array(R).fill(BigInt(o.eot));
    for (let b = 0; b < B; b++) {
      if (done[b]) continue;
      const candidates: { from: number; token: number; logp: number }[] = [];
      beams[b]!.forEach((h, j) => {
        for (const c of topLogProbs(maskedRow(r.logits, b * K + j, suppressed, scratch), K + 1))
          candidates.push({ from: j, token: c.token, logp: h.logp + c.logp });
      });
      // Best first; equal scores keep the earlier hypothesis and token (a stable sort).
      candidates.sort((x, y) => y.logp - x.logp);
      const kept: Hypothesis[] = [];
      const keptFrom: number[] = [];
      const newlyFinished: Hypothesis[] = [];
      for (const c of candidates) {
        const seq = [...beams[b]![c.from]!.tokens, c.token];
        if (c.token === o.eot) {
          newlyFinished.push({ tokens: seq.slice(0, -1), logp: c.logp });
          continue;
        }
        const loop = o.repeatGuard > 0 ? o.endsInLoop(seq, o.repeatGuard) : 0;
        if (loop > 0) {
          newlyFinished.push({ tokens: seq.slice(0, seq.length - loop), logp: c.logp });
          continue;
        }
        kept.push({ tokens: seq, logp: c.logp });
        keptFrom.push(c.from);
        if (kept.length === K) break;
      }
      for (const h of newlyFinished) if (finished[b]!.length < K) finished[b]!.push(h);
      beams[b] = kept;
      if (finished[b]!.length >= K || kept.length === 0) {
        done[b] = 1;
        left--;
        continue;
      }
      kept.forEach((h, j) => {
        sources[b * K + j] = b * K + keptFrom[j]!;
        next[b * K + j] = BigInt(h.tokens[h.tokens.length - 1]!);
      });
    }
    selfK = gatherRows(r.selfK, sources);
    selfV = gatherRows(r.selfV, sources);
    tokens = { type: 'int64', data: next, dims: [R, 1] };
  }
  return beams.map((alive, b) => {
    const pool = finished[b]!.length > 0 ? finished[b]! : alive;
    let best: Hypothesis | null = null;
    let bestScore = -Infinity;
    for (const h of pool) {
      const score = h.logp / Math.max(1, h.tokens.length);
      if (score > bestScore) {
        bestScore = score;
        best = h;
      }
    }
    return best?.tokens ?? [];
  });
}
