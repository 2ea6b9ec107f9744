/**
 * Word error rate as training/whisper/wer.py's `basic` computes it: MOSI's references write "im"
 * and "didnt", Whisper writes "I'm" and "didn't"; those are the same words. (The `whisper`
 * normalisation: whisperNormaliser.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { corpusWer, normaliseWords, werCount, wordErrors } from '../../src/speech/wer.js';

test('normalisation: lower case, apostrophes dropped, other punctuation separates words', () => {
  assert.deepEqual(normaliseWords("Oh, I'm sure it didn\u2019t -- really!"), ['oh', 'im', 'sure', 'it', 'didnt', 'really']);
  assert.deepEqual(normaliseWords('  '), []);
});

test('word errors count substitutions, deletions and insertions', () => {
  assert.equal(wordErrors(['a', 'b', 'c'], ['a', 'b', 'c']), 0);
  assert.equal(wordErrors(['a', 'b', 'c'], ['a', 'x', 'c']), 1);
  assert.equal(wordErrors(['a', 'b', 'c'], ['a', 'c']), 1);
  assert.equal(wordErrors(['a', 'b'], ['a', 'b', 'c', 'd']), 2);
  assert.equal(wordErrors([], ['a']), 1);
});

test('corpus WER is all errors over all reference words', () => {
  const counts = [werCount('im really happy', "I'm really happy."), werCount('the movie was bad', 'the moon was bad too')];
  assert.deepEqual(counts, [
    { errors: 0, words: 3 },
    { errors: 2, words: 4 },
  ]);
  assert.equal(corpusWer(counts), 2 / 7);
  assert.ok(Number.isNaN(corpusWer([])));
});
