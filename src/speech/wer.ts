/**
 * Word error rate: the words of a reference and a hypothesis, normalised the same way (lower
 * case, apostrophes dropped as MOSI writes "im" and "didnt", other punctuation removed, numbers
 * left as written: `basic` of training/whisper/wer.py), and their word edit distance. Corpus WER = all errors / all reference words.
 *
 * The project's own Levenshtein over word arrays: the only edit-distance package in
 * node_modules is fast-levenshtein (a transitive dependency of ESLint, over characters), and the
 * dynamic programme is a dozen lines.
 */

/** Lower-case words, apostrophes dropped ("I'm" -> "im"); other characters than a-z and 0-9 separate words. */
export function normaliseWords(text: string): string[] {
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

/** Errors and reference words of one pair of texts, both normalised. */
export function werCount(reference: string, hypothesis: string): WerCount {
  const ref = normaliseWords(reference);
  return { errors: wordErrors(ref, normaliseWords(hypothesis)), words: ref.length };
}

/** Corpus WER of counts: total errors / total reference words (NaN without reference words). */
export function corpusWer(counts: readonly WerCount[]): number {
  const words = counts.reduce((s, c) => s + c.words, 0);
  return words === 0 ? NaN : counts.reduce((s, c) => s + c.errors, 0) / words;
}
