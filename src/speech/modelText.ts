/**
 * The words the text model reads from the recogniser: the one place machine-made text (a
 * transcript segment whose origin is `asr:<model>`, or a row `msa eval --media` recognised) is
 * turned into model input. Serving (src/model/windowInputs.ts) and `msa eval --media`
 * (src/eval/evaluate.ts) both call `recognisedTextForModel`; the transcript on Kafka and
 * WebSocket keeps the recogniser's own text.
 *
 * Whisper writes "I'm sure it's great, right?". The text model was trained on MOSI (lower case,
 * no punctuation, no apostrophes: "im sure its great right", fillers "um"/"uh" written) and
 * MOSEI (cased and punctuated); its WordPiece tokenizer is uncased, so case never mattered.
 * The cleanups, compared on the 229 MOSI dev rows (so chosen on dev; README "Speech
 * recognition", `python -m training.whisper.audio_vs_text --hyps ... --asr-text raw mosi nopunct`):
 * - `raw`: Whisper's text as it is;
 * - `mosi`: as MOSI writes: lower case, apostrophes dropped ("I'm" -> "im"), other punctuation
 *   a space (the `basic` WER normalisation of src/speech/wer.ts); digits stay;
 * - `nopunct`: lower case, punctuation removed but apostrophes kept ("i'm sure it's great right").
 */
import { normaliseWords } from './wer.js';

export const MODEL_TEXT_CLEANUPS = ['raw', 'mosi', 'nopunct'] as const;
export type ModelTextCleanup = (typeof MODEL_TEXT_CLEANUPS)[number];

/**
 * What serving and `msa eval --media` use: `raw`. On MOSI dev, `mosi` gained 1.4 Acc-2 points on
 * the voice variants but lost 0.9 on the plain voice, and raised MAE on both (0.915 -> 0.924,
 * 0.868 -> 0.875); `nopunct` lost Acc-2 on the plain voice and MAE on both. Within noise (1.4
 * points are 3 of 216 rows); the words the recogniser gets wrong, not their punctuation, make the gap.
 */
export const DEFAULT_MODEL_TEXT_CLEANUP: ModelTextCleanup = 'raw';

/** A transcript segment's `origin` that says msa's recogniser made it. */
export function isRecognised(origin: string | null): boolean {
  return origin !== null && origin.startsWith('asr:');
}

/** Recognised text as the text model reads it (may be empty: punctuation alone has no words). */
export function recognisedTextForModel(text: string, cleanup: ModelTextCleanup = DEFAULT_MODEL_TEXT_CLEANUP): string {
  switch (cleanup) {
    case 'raw':
      return text;
    case 'mosi':
      return normaliseWords(text, 'basic').join(' ');
    case 'nopunct':
      return text
        .toLowerCase()
        .replace(/\u2019/gu, "'")
        .replace(/[^\p{L}\p{N}']+/gu, ' ')
        .replace(/(^|\s)'+|'+(?=\s|$)/gu, '$1')
        .split(/\s+/u)
        .filter((w) => w.length > 0)
        .join(' ');
  }
}
