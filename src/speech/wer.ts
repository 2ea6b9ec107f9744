/**
 * Word error rate: the words of a reference and a hypothesis, normalised the same way, and their
 * word edit distance. Corpus WER = all errors / all reference words. Two normalisations, as
 * training/whisper/wer.py names them:
 * - `whisper`: Whisper's English text normaliser (./normaliser/english.ts: fillers removed,
 *   contractions expanded, American spelling, numbers as digits), what Whisper's WERs are
 *   reported on;
 * - `whisper-noapos`: apostrophes dropped from both sides first, then `whisper`. MOSI writes
 *   "im", "dont", "didnt", Whisper "I'm", "don't", "didn't"; the normaliser expands only the
 *   latter ("i am", "do not"), so plain `whisper` counts two errors where the words agree;
 * - `basic`: lower case, apostrophes dropped as MOSI writes "im" and "didnt", other punctuation
 *   removed, numbers left as written.
 *
 * The project's own Levenshtein over word arrays: the only edit-distance package in
 * node_modules is fast-levenshtein (a transitive dependency of ESLint, over characters), and the
 * dynamic programme is a dozen lines.
 */
import { whisperNormalise } from './normaliser/english.js';
import { splitPy } from './normaliser/numbers.js';

export const WER_NORMALISATIONS = ['whisper-noapos', 'whisper', 'basic'] as const;
export type WerNormalisation = (typeof WER_NORMALISATIONS)[number];

/** The words of `text` under a normalisation (default `basic`). */
export function normaliseWords(text: string, how: WerNormalisation = 'basic'): string[] {
  if (how === 'whisper') return splitPy(whisperNormalise(text));
  if (how === 'whisper-noapos') return splitPy(whisperNormalise(text.replace(/['\u2019]/gu, '')));
  return basicWords(text);
}

/** `basic`: lower-case words, apostrophes dropped ("I'm" -> "im"); other characters than a-z and 0-9 separate words. */
function basicWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/['\u2019]/g, '')
    .replace(/[^a-z0-9]+/g, ' ')
    .split(/\s+/)
    .filter((w) => w.length > 0);
}

/** Substitutions + deletions + insertions turning `ref` into `hyp` (word Levenshtein distance). */
export function wordErrors(ref: readonly string[], hyp: readonly string[]): number {
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const cur = [i];
    for (let j = 1; j <= hyp.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[hyp.length]!;
}

export interface WerCount {
  errors: number;
  /** Reference words. */
  words: number;
}

/** Errors and reference words of one pair of texts, both normalised the same way (default `basic`). */
export function werCount(reference: string, hypothesis: string, how: WerNormalisation = 'basic'): WerCount {
  const ref = normaliseWords(reference, how);
  return { errors: wordErrors(ref, normaliseWords(hypothesis, how)), words: ref.length };
}

/** Corpus WER of counts: total errors / total reference words (NaN without reference words). */
export function corpusWer(counts: readonly WerCount[]): number {
  const words = counts.reduce((s, c) => s + c.words, 0);
  return words === 0 ? NaN : counts.reduce((s, c) => s + c.errors, 0) / words;
}
