import type { Modalities, TranscriptSegment } from '../schemas/records.js';
import type { NonVerbalIds } from './types.js';
import type { SessionWindow } from '../windows/types.js';
import type { PadIndex } from './batchTensors.js';
import type { TextTokenizer } from './tokenizer.js';
import type { ModelInput } from './types.js';

/**
 * From a closed `SessionWindow` to the model's input: the window's words, tokenized, and the
 * non-verbal codebook indices from the feature stage (`features/nonVerbal.ts`).
 */

export interface WindowInputOptions {
  tokenizer: TextTokenizer;
  /** Max ids per text row, special tokens included (the manifest's `maxTextTokens`). */
  maxTextTokens: number;
  /** Each codebook's pad index K: what an absent modality is filled with. */
  padIndex: PadIndex;
  /**
   * The hook for the feature extractors: the window's acoustic / visual indices. Without it (or
   * with an empty list) the modality is absent for the model, whatever records the window has.
   */
  nonVerbal?: NonVerbalIds;
}

export interface WindowInput {
  input: ModelInput;
  /** The text the model read (after dropping the oldest words that did not fit). */
  text: string;
  /** Words in the window, and how many of the oldest were dropped to fit `maxTextTokens`. */
  words: number;
  droppedWords: number;
  /** Modalities with data in the window (Score.modalities). */
  present: Modalities;
  /** Modalities the model actually read: a modality present but not used is said so honestly. */
  used: Modalities;
}

/**
 * Builds the model input of one window.
 *
 * Text: the words whose timing overlaps [start, end) (a word from 5.9 s to 6.2 s belongs to both
 * windows it touches), in time order across segments; a segment without word timings gives its
 * whole text, placed at its start, when the segment overlaps the window. Of the versions of one
 * segment (same `segmentId`) the final one wins over interim ones, else the last one received.
 * When the words take more than `maxTextTokens`, the OLDEST words are dropped, whole, until they
 * fit: the end of the window is what the score is about, and cutting a word in half would give
 * the model a word piece it never saw at the start of a text.
 *
 * Non-verbal: `options.nonVerbal` when given; an empty list is absence, i.e. one pad index with
 * mask 0, as the model was trained.
 */
export function buildWindowInput(window: SessionWindow, options: WindowInputOptions): WindowInput {
  const { tokenizer, maxTextTokens, padIndex, nonVerbal } = options;
  const words = windowWords(window);
  const { kept, dropped } = fitRecentWords(words, tokenizer, maxTextTokens);
  const text = kept.join(' ');
  const encoded = tokenizer.encode([text], maxTextTokens);
  const hasText = kept.length > 0;

  const acoustic = nonVerbalSequence(nonVerbal?.acousticIds ?? [], padIndex.acoustic, 'acoustic');
  const visual = nonVerbalSequence(nonVerbal?.visualIds ?? [], padIndex.visual, 'visual');

  return {
    input: {
      inputIds: encoded.inputIds[0]!,
      attentionMask: textMask(encoded.attentionMask[0]!, hasText),
      acousticIds: acoustic.ids,
      acousticMask: acoustic.mask,
      visualIds: visual.ids,
      visualMask: visual.mask,
    },
    text,
    words: words.length,
    droppedWords: dropped,
    present: presentModalities(window, words.length > 0),
    used: { text: hasText, audio: acoustic.used, video: visual.used },
  };
}

/**
 * The text mask the model reads: a text without words is ABSENT for the model (mask all 0, so
 * its presence flag is 0 and its term and contribution are exactly 0), not the [CLS] [SEP] of an
 * empty string (mask 1), which the model would read as a text and give a text contribution for.
 * Used by the live pipeline (buildWindowInput) and `msa eval` (scoreRows) alike.
 */
export function textMask(mask: readonly number[], hasText: boolean): number[] {
  return hasText ? [...mask] : mask.map(() => 0);
}

/** Which modalities had data: end-of-stream markers without payload do not count. */
export function presentModalities(window: SessionWindow, hasWords: boolean): Modalities {
  return {
    text: hasWords,
    audio: window.audio.some((chunk) => chunk.samples.length > 0),
    video: window.video.some((frame) => frame.data.length > 0 || frame.features.length > 0),
  };
}

interface TimedWord {
  word: string;
  start: number;
  order: number; // arrival order, to keep the sort stable among equal times
}

/** The window's words in time order (see buildWindowInput for the rules). */
export function windowWords(window: SessionWindow): string[] {
  const { start, end } = window;
  const timed: TimedWord[] = [];
  for (const segment of latestVersions(window.transcript)) {
    if (segment.words.length > 0) {
      for (const w of segment.words) {
        // A word overlaps [start, end) when it starts inside it, or starts before and ends after start.
        const overlaps = w.start < end && (w.start >= start || w.end > start);
        if (overlaps) timed.push(...splitWords(w.word, w.start, timed.length));
      }
    } else if (segment.eventTime < end && (segment.eventTime >= start || segment.endTime > start)) {
      timed.push(...splitWords(segment.text, segment.eventTime, timed.length));
    }
  }
  timed.sort((a, b) => a.start - b.start || a.order - b.order);
  return timed.map((w) => w.word);
}

function splitWords(text: string, start: number, firstOrder: number): TimedWord[] {
  return text
    .split(/\s+/u)
    .filter((word) => word.length > 0)
    .map((word, i) => ({ word, start, order: firstOrder + i }));
}

/** One version per segmentId: the final one, else the last received. Order of first arrival. */
function latestVersions(segments: readonly TranscriptSegment[]): TranscriptSegment[] {
  const byId = new Map<string, TranscriptSegment>();
  for (const segment of segments) {
    const seen = byId.get(segment.segmentId);
    if (seen === undefined || segment.isFinal || !seen.isFinal) byId.set(segment.segmentId, segment);
  }
  return [...byId.values()];
}

/**
 * Drops the oldest words until the rest takes at most `maxTokens` ids. Token counts only grow
 * with more words, so a binary search over the number dropped needs O(log n) encodings.
 */
function fitRecentWords(words: readonly string[], tokenizer: TextTokenizer, maxTokens: number): { kept: string[]; dropped: number } {
  const fits = (dropped: number) => tokenizer.countTokens(words.slice(dropped).join(' ')) <= maxTokens;
  if (fits(0)) return { kept: [...words], dropped: 0 };
  let lo = 1; // smallest candidate
  let hi = words.length; // dropping every word always fits
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fits(mid)) hi = mid;
    else lo = mid + 1;
  }
  // One word alone may be longer than maxTokens: keep it, the tokenizer truncates its pieces.
  const dropped = lo === words.length && words.length > 0 ? words.length - 1 : lo;
  return { kept: words.slice(dropped), dropped };
}

function nonVerbalSequence(ids: readonly number[], pad: number, modality: string): { ids: number[]; mask: number[]; used: boolean } {
  if (ids.length === 0) return { ids: [pad], mask: [0], used: false };
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= pad);
  if (bad !== undefined) {
    throw new RangeError(`${modality} codebook index ${bad} is outside 0..${pad - 1} (the codebook has ${pad} entries)`);
  }
  return { ids: [...ids], mask: ids.map(() => 1), used: true };
}
