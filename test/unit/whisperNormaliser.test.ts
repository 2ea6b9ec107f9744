/**
 * Parity of the TypeScript port of Whisper's English text normaliser (src/speech/normaliser/)
 * with the Python module the measurements use (whisper-normalizer's EnglishTextNormalizer).
 *
 * test/fixtures/whisper-normaliser-parity.json was written by
 *
 *   python -m training.whisper.wer parity --out test/fixtures/whisper-normaliser-parity.json \
 *       --hyps plain.csv variants.csv     # `msa asr wer --out` of the two espeak-ng MOSI dev manifests
 *
 * and holds each distinct text once with Python's output: the rule-by-rule edge cases of
 * training/whisper/wer.py EDGE_CASES, the 229 MOSI dev references, and the recogniser's
 * hypotheses of them (plain voice, and six voices and three rates).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { whisperNormalise } from '../../src/speech/normaliser/english.js';
import { normaliseWords, werCount } from '../../src/speech/wer.js';

interface Case {
  text: string;
  whisper: string;
  'whisper-noapos': string;
  basic: string;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/whisper-normaliser-parity.json', import.meta.url), 'utf8')) as { cases: Case[] };

test('every fixture text normalises to exactly what the Python normaliser gives', () => {
  assert.ok(fixture.cases.length > 600, `${fixture.cases.length} cases`);
  const differ = fixture.cases.filter((c) => whisperNormalise(c.text) !== c.whisper);
  assert.deepEqual(
    differ.map((c) => ({ text: c.text, python: c.whisper, node: whisperNormalise(c.text) })),
    [],
  );
});

test('the whisper-noapos and basic normalisations give the words of the Python ones', () => {
  for (const c of fixture.cases) {
    assert.deepEqual(normaliseWords(c.text, 'whisper-noapos'), c['whisper-noapos'].split(' ').filter(Boolean), c.text);
    assert.deepEqual(normaliseWords(c.text, 'basic'), c.basic.split(' ').filter(Boolean), c.text);
  }
});

test('the rules: fillers, contractions, spelling, numbers, currencies, brackets', () => {
  assert.equal(whisperNormalise("Um, I'm gonna colour twenty-five things, uh... it's $20 million."), 'i am going to color 25 things it is $20000000');
  assert.equal(whisperNormalise('ten thousand dollars and five cents, fifty per cent'), '$10000.05 50%');
  assert.equal(whisperNormalise('[laughs] (inaudible) hmm it was the second one'), 'it was the 2nd one');
  assert.equal(whisperNormalise('a decillion and one'), 'a 1000000000000000000000000000000001');
});

test('WER under each normalisation: MOSI style against Whisper style', () => {
  // MOSI writes fillers and spelled numbers; Whisper omits fillers and writes digits.
  assert.deepEqual(werCount('um i saw it twenty times', 'I saw it 20 times.', 'whisper'), { errors: 0, words: 5 });
  assert.deepEqual(werCount('um i saw it twenty times', 'I saw it 20 times.', 'basic'), { errors: 2, words: 6 });
  // MOSI writes "im" where Whisper writes "I'm": only the hypothesis is expanded to "i am"...
  assert.deepEqual(werCount('im sure', "I'm sure.", 'whisper'), { errors: 2, words: 2 });
  // ...unless apostrophes go first.
  assert.deepEqual(werCount('im sure', "I'm sure.", 'whisper-noapos'), { errors: 0, words: 2 });
});
