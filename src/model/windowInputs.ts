import type { Modalities, TranscriptSegment } from '../schemas/records.js';
import type { NonVerbalIds } from './types.js';
import type { SessionWindow } from '../windows/types.js';
import type { PadIndex } from './batchTensors.js';
import type { TextTokenizer } from './tokenizer.js';
import type { ModelInput } from './types.js';
import { isRecognised, recognisedTextForModel, type ModelTextCleanup } from '../speech/modelText.js';

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
   * Most words of one window looked at (config `limits.maxWordsPerWindow`); the oldest beyond it
   * are dropped (counted in `droppedWords`) before sorting and tokenising. Default 10 000.
   */
  maxWords?: number;
  /** How text of msa's recogniser is cleaned for the model (src/speech/modelText.ts; default: DEFAULT_MODEL_TEXT_CLEANUP). */
  recognisedText?: ModelTextCleanup;
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
 * whole text, placed at its start, when the segment overlaps the window. Text of msa's
 * recogniser (origin `asr:<model>`) is cleaned as the model reads it (src/speech/modelText.ts). Of the versions of one
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
  const { words, total } = recentWindowWords(window, options.maxWords ?? DEFAULT_MAX_WORDS, options.recognisedText);
  const fitted = fitRecentWords(words, tokenizer, maxTextTokens);
  const kept = fitted.kept;
  const dropped = fitted.dropped + (total - words.length);
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
    words: total,
    droppedWords: dropped,
    present: presentModalities(window, total > 0),
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

/** Default of `WindowInputOptions.maxWords` (config `limits.maxWordsPerWindow`). */
export const DEFAULT_MAX_WORDS = 10_000;

/** The window's words in time order (see buildWindowInput for the rules). */
export function windowWords(window: SessionWindow): string[] {
  return recentWindowWords(window, Infinity).words;
}

/**
 * The window's most recent `maxWords` words in time order, and how many it has in all. Linear in
 * the window's text plus a sort of the words kept: no spreading into calls (a segment of 50 000
 * untimed words once overflowed the stack through `push(...words)`).
 */
export function recentWindowWords(window: SessionWindow, maxWords: number, recognisedText?: ModelTextCleanup): { words: string[]; total: number } {
  const { start, end } = window;
  const timed: TimedWord[] = [];
  for (const segment of latestVersions(window.transcript)) {
    const forModel = isRecognised(segment.origin) ? (text: string) => recognisedTextForModel(text, recognisedText) : (text: string) => text;
    if (segment.words.length > 0) {
      for (const w of segment.words) {
        // A word overlaps [start, end) when it starts inside it, or starts before and ends after start.
        const overlaps = w.start < end && (w.start >= start || w.end > start);
        if (overlaps) pushWords(timed, forModel(w.word), w.start);
      }
    } else if (segment.eventTime < end && (segment.eventTime >= start || segment.endTime > start)) {
      pushWords(timed, forModel(segment.text), segment.eventTime);
    }
  }
  timed.sort((a, b) => a.start - b.start || a.order - b.order);
  const kept = timed.length > maxWords ? timed.slice(timed.length - maxWords) : timed;
  return { words: kept.map((w) => w.word), total: timed.length };
}

const WHITESPACE = /\s+/u;

/** Appends the whitespace-separated words of `text`, all at `start`, in order. */
function pushWords(into: TimedWord[], text: string, start: number): void {
  for (const word of text.split(WHITESPACE)) {
    if (word.length > 0) into.push({ word, start, order: into.length });
  }
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
 * Drops the oldest words until the rest takes at most `maxTokens` ids, in time linear in the
 * words kept: each word is tokenised once, newest first, until the budget is spent (WordPiece
 * tokenises a text as the concatenation of its words' pieces); then the joined text is encoded
 * to check, and a word is given back or taken while the check disagrees (a tokenizer that is not
 * additive), each check costing at most `maxTokens` ids' worth of text. Never a search that
 * re-tokenises the whole window (that blocked the event loop for seconds on a 600 KB segment).
 */
function fitRecentWords(words: readonly string[], tokenizer: TextTokenizer, maxTokens: number): { kept: string[]; dropped: number } {
  if (words.length === 0) return { kept: [], dropped: 0 };
  const specials = tokenizer.countTokens('');
  const budget = maxTokens - specials;
  let first = words.length; // words[first..] are kept
  let used = 0;
  while (first > 0) {
    const cost = tokenizer.countTokens(words[first - 1]!) - specials;
    if (used + cost > budget) break;
    used += cost;
    first--;
  }
  const fits = (from: number) => tokenizer.countTokens(words.slice(from).join(' ')) <= maxTokens;
  // Correct an estimate that a non-additive tokenizer got wrong; bounded, each step one word.
  for (let steps = 0; steps < 64 && first < words.length && !fits(first); steps++) first++;
  for (let steps = 0; steps < 64 && first > 0 && fits(first - 1); steps++) first--;
  // One word alone may be longer than maxTokens: keep it, the tokenizer truncates its pieces.
  if (first === words.length) first = words.length - 1;
  return { kept: words.slice(first), dropped: first };
}

function nonVerbalSequence(ids: readonly number[], pad: number, modality: string): { ids: number[]; mask: number[]; used: boolean } {
  if (ids.length === 0) return { ids: [pad], mask: [0], used: false };
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= pad);
  if (bad !== undefined) {
    throw new RangeError(`${modality} codebook index ${bad} is outside 0..${pad - 1} (the codebook has ${pad} entries)`);
  }
  return { ids: [...ids], mask: ids.map(() => 1), used: true };
}
