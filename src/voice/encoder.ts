/**
 * The voice reader's input, per utterance: the Whisper encoder's `block2` rows averaged over the
 * positions that cover the utterance, computed exactly as `training/experiments/extract.py` does
 * (log-mel of the utterance alone, so its maximum is the utterance's; conv2 has stride 2, so T mel
 * frames give ceil(T / 2) positions).
 *
 * Encoder input sizing (reader.json `representation.padding`):
 * - `none`: exactly the utterance's frames as faster-whisper's FeatureExtractor gives them
 *   (T = N // 160 + 1: the recogniser's content frames and the last, half-padded one), the study's input;
 * - `trim:MULTIPLE:MARGIN`: T = the recogniser's trimmed length (CONTRACT.md section 6), with the
 *   zero tail; pooling still covers the utterance's positions only;
 * - `30s`: padded to 3000 frames.
 * When the recogniser decodes with the same sizing, its encoder run serves both jobs
 * (`sharesEncoderRun`, `Transcript.voice`). Otherwise `poolUtterances` runs the encoder alone,
 * rows of equal T batched (padding a row to a longer T would change its result).
 */
import { addPooled, pooledVector, type DecodingMode, type PooledSums, type VoicePooling } from '../speech/whisper/recognizer.js';
import { contentFrames, copyFrames, logMel, N_FRAMES_30S, N_MELS, trimmedFrames, type LogMel } from '../speech/whisper/mel.js';

export type VoicePadding = { kind: 'none' } | { kind: '30s' } | { kind: 'trim'; multiple: number; margin: number };

/** `none` | `30s` | `trim:MULTIPLE:MARGIN` (a recogniser decoding spec's `+guardK` is allowed and ignored). */
export function parseVoicePadding(spec: unknown): VoicePadding {
  if (spec === 'none') return { kind: 'none' };
  const m = typeof spec === 'string' ? /^(?:(30s)|trim:(\d+):(\d+))(?:\+guard\d+)?$/.exec(spec) : null;
  if (!m) throw new RangeError(`voice reader: representation.padding ${JSON.stringify(spec)}: expected none, 30s or trim:MULTIPLE:MARGIN`);
  if (m[1]) return { kind: '30s' };
  const multiple = Number(m[2]);
  const margin = Number(m[3]);
  trimmedFrames(1, multiple, margin); // validates them
  return { kind: 'trim', multiple, margin };
}

export function paddingName(p: VoicePadding): string {
  return p.kind === 'trim' ? `trim:${p.multiple}:${p.margin}` : p.kind;
}

/** Encoder length T for a 30-s window of `content` mel frames. */
export function voiceEncoderFrames(content: number, padding: VoicePadding): number {
  if (padding.kind === 'none') return content;
  if (padding.kind === '30s') return N_FRAMES_30S;
  return trimmedFrames(content, padding.multiple, padding.margin);
}

/** True when the recogniser's encoder input is sized as the voice path's, so one run serves both. */
export function sharesEncoderRun(padding: VoicePadding, decoding: DecodingMode): boolean {
  if (padding.kind === 'none') return false;
  if (padding.kind === '30s') return !decoding.trim;
  return decoding.trim && decoding.multiple === padding.multiple && decoding.margin === padding.margin;
}

/** Runs the encoder on mel [B, 80, T] and returns block2 [B, ceil(T/2), d]. */
export type Block2Encoder = (mel: Float32Array, batch: number, frames: number) => Promise<Float32Array>;

interface Item {
  utterance: number;
  mel: LogMel;
  start: number;
  content: number;
  frames: number;
}

/**
 * Pooled block2 vector of each 16 kHz utterance (null for one shorter than a mel frame, 10 ms):
 * `pooling` mean (d values) or meanstd (mean then standard deviation, 2d), d = `dim`, the
 * encoder's width. An utterance over 30 s is pooled over its 30-s windows together (all its positions).
 */
export async function poolUtterances(
  encode: Block2Encoder,
  utterances: readonly Float32Array[],
  padding: VoicePadding,
  pooling: VoicePooling,
  dim: number,
  maxBatch: number,
): Promise<(Float64Array | null)[]> {
  const items: Item[] = [];
  utterances.forEach((u, utterance) => {
    if (contentFrames(u.length) === 0) return;
    // none: faster-whisper FeatureExtractor's N / 160 + 1 frames, as extract.py fed the study;
    // trim / 30s: the recogniser's N / 160 content frames, so its run can serve both jobs.
    const mel = logMel(u, { keepLast: padding.kind === 'none' });
    for (let start = 0; start < mel.frames; start += N_FRAMES_30S) {
      const content = Math.min(N_FRAMES_30S, mel.frames - start);
      items.push({ utterance, mel, start, content, frames: voiceEncoderFrames(content, padding) });
    }
  });
  const order = items.map((_, k) => k).sort((a, b) => items[a]!.frames - items[b]!.frames || a - b);
  const sums = new Map<number, PooledSums>();
  for (let s = 0; s < order.length;) {
    const frames = items[order[s]!]!.frames;
    const group: Item[] = [];
    for (; s < order.length && group.length < maxBatch && items[order[s]!]!.frames === frames; s++) group.push(items[order[s]!]!);
    const mel = new Float32Array(group.length * N_MELS * frames);
    group.forEach((it, row) => copyFrames(it.mel, it.start, frames, mel, row * N_MELS * frames));
    const block2 = await encode(mel, group.length, frames);
    const positions = Math.ceil(frames / 2);
    if (block2.length !== group.length * positions * dim) {
      throw new RangeError(`block2 has ${block2.length} values, expected ${group.length} x ${positions} x ${dim} (the encoder width the reader expects)`);
    }
    group.forEach((it, row) => addPooled(sums, it.utterance, block2, row, positions, dim, Math.ceil(it.content / 2)));
  }
  return utterances.map((_, i) => pooledVector(sums.get(i), pooling));
}
