/**
 * The Whisper recogniser (speech/whisper/recognizer.ts) on the real tiny.en weights (installed on
 * first use, test/fixtures/whisper.ts): the Python reference's vectors for both encoder modes
 * (encoder output, first-step logits, greedy tokens and text, exact), RAVDESS and espeak-ng speech,
 * batching equal to one utterance at a time, the vocabulary of both models, and the limits.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeSpeech } from '../../src/speech/audio.js';
import { copyFrames, logMel, N_MELS } from '../../src/speech/whisper/mel.js';
import { encoderFrames, endsInLoop, loadWhisper, parseDecodingMode, type WhisperRecognizer } from '../../src/speech/whisper/recognizer.js';
import { readWhisperSpec } from '../../src/speech/whisper/install.js';
import { Vocabulary } from '../../src/speech/whisper/vocabulary.js';
import { espeakWav, normalise, wordRecall } from '../fixtures/speech.js';
import { modelDir, sharedData, testLogger, vectors } from '../fixtures/whisper.js';

describe('whisper recogniser (tiny.en)', () => {
  let asr: WhisperRecognizer;
  let sample: Float32Array;
  before(async () => {
    asr = await loadWhisper({ model: 'tiny.en', dir: await modelDir('tiny.en'), intraOpThreads: 1, logger: testLogger });
    sample = await decodeSpeech(sharedData(vectors.models['tiny.en']!.sample));
  });
  after(() => asr?.release());

  for (const [modeName, v] of Object.entries(vectors.models['tiny.en']!.modes)) {
    it(`mode ${modeName}: encoder output, first-step logits, tokens and text as the reference`, async () => {
      const mode = parseDecodingMode(modeName);
      const mel = logMel(sample);
      const frames = encoderFrames(mel.frames, mode);
      assert.equal(frames, v.T);
      const input = new Float32Array(N_MELS * frames);
      copyFrames(mel, 0, frames, input, 0);
      const encoded = await asr.encode(input, 1, frames);
      v.hidden_0_0_first8.forEach((want, i) =>
        assert.ok(Math.abs(encoded.hidden[i]! - want) < 2e-3, `hidden[0, 0, ${i}] = ${encoded.hidden[i]}, want ${want}`),
      );
      let top5: [number, number][] = [];
      const [tokens] = await asr.greedy(encoded, {
        repeatGuard: mode.repeatGuard,
        onFirstLogits: (l) =>
          (top5 = Array.from(l, (x, id): [number, number] => [id, x])
            .sort((a, b) => b[1] - a[1])
            .slice(0, 5)),
      });
      assert.deepEqual(
        top5.map(([id]) => id),
        v.first_step_top5_masked.map(([id]) => id),
      );
      top5.forEach(([, x], i) => assert.ok(Math.abs(x - v.first_step_top5_masked[i]![1]) < 1e-2, `top5[${i}] logit ${x}`));
      assert.deepEqual(tokens, v.tokens);
      assert.equal(asr.vocabulary.decodeRaw(tokens!), v.text);
      const [t] = await asr.transcribe([sample], { decoding: modeName });
      assert.deepEqual(t, { text: v.text.trim(), tokens: v.tokens });
    });
  }

  it('RAVDESS: both statements', async () => {
    const files = { '03-01-01-01-01-01-01.flac': 'Kids are talking by the door', '03-01-05-02-02-01-12.flac': 'Dogs are sitting by the door' };
    const audio = await Promise.all(Object.keys(files).map((f) => decodeSpeech(sharedData('ravdess', f))));
    const texts = await asr.transcribe(audio);
    Object.values(files).forEach((want, i) => assert.equal(normalise(texts[i]!.text), normalise(want)));
  });

  it('espeak-ng speech comes back with its words', async () => {
    const sentence = 'The weather is nice today and we will go for a walk in the park.';
    const [t] = await asr.transcribe([await decodeSpeech(espeakWav('park', sentence))]);
    assert.ok(wordRecall(sentence, t!.text) >= 0.8, `heard ${JSON.stringify(t!.text)}`);
  });

  it('a batch of 3 different utterances equals each alone', async () => {
    const audio = [
      sample,
      await decodeSpeech(sharedData('ravdess', '03-01-01-01-02-01-02.flac')),
      await decodeSpeech(espeakWav('numbers', 'One two three four five six seven.')),
    ];
    const together = await asr.transcribe(audio, { maxBatch: 8 });
    const alone = [];
    for (const a of audio) alone.push(...(await asr.transcribe([a], { maxBatch: 1 })));
    assert.deepEqual(together, alone);
    // Same T in one batch: three copies of the sample.
    const same = await asr.transcribe([sample, sample, sample], { maxBatch: 3 });
    for (const t of same) assert.deepEqual(t, alone[0]);
  });

  it('over 30 s: consecutive windows, texts joined', async () => {
    const ravdess = await decodeSpeech(sharedData('ravdess', '03-01-01-01-01-01-01.flac'));
    const long = new Float32Array(16000 * 36);
    long.set(ravdess.subarray(0, Math.min(ravdess.length, 16000 * 4)), 0);
    long.set(ravdess.subarray(0, Math.min(ravdess.length, 16000 * 4)), 16000 * 30 + 800);
    const [t] = await asr.transcribe([long]);
    assert.ok((normalise(t!.text).match(/kids/g) ?? []).length >= 2, `heard ${JSON.stringify(t!.text)}`);
  });

  it('empty and too-long utterances', async () => {
    assert.deepEqual(await asr.transcribe([new Float32Array(100)]), [{ text: '', tokens: [] }]);
    await assert.rejects(asr.transcribe([new Float32Array(16000 * 121)]), /utterance 0 lasts 121\.0 s, more than maxUtteranceS = 120 s/);
    await assert.rejects(asr.transcribe([sample], { maxBatch: 0 }), /maxBatch must be an integer in 1\.\.64, got 0/);
  });
});

describe('whisper decoding rules', () => {
  it('modes parse like the Python reference', () => {
    assert.deepEqual(parseDecodingMode('trim'), { trim: true, multiple: 100, margin: 50, repeatGuard: 4 });
    assert.deepEqual(parseDecodingMode('30s'), { trim: false, multiple: 100, margin: 0, repeatGuard: 0 });
    assert.deepEqual(parseDecodingMode('trim:100:0+guard4'), { trim: true, multiple: 100, margin: 0, repeatGuard: 4 });
    assert.throws(() => parseDecodingMode('trim:99:0'), /multiple must be an even integer/);
    assert.throws(() => parseDecodingMode('half'), /decoding mode "half": expected 30s/);
  });

  it('the repeat guard finds a span repeated at the end', () => {
    assert.equal(endsInLoop([1, 2, 3, 4, 1, 2, 3, 4], 4), 4);
    assert.equal(endsInLoop([9, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5], 4), 5);
    assert.equal(endsInLoop([1, 1, 1, 1], 4), 0);
    assert.equal(endsInLoop([1, 2, 3, 1, 2, 3], 4), 0);
  });

  it('the vocabulary of both models decodes the reference tokens', async () => {
    for (const name of ['tiny.en', 'base'] as const) {
      const dir = await modelDir(name);
      const spec = readWhisperSpec(dir);
      const vocab = Vocabulary.fromFile(join(dir, 'vocabulary.txt'), spec.tokens.eot, spec.tokens.n_vocab);
      for (const v of Object.values(vectors.models[name]!.modes)) {
        assert.equal(vocab.decodeRaw(v.tokens), v.text);
        assert.equal(vocab.decode([...v.tokens, spec.tokens.eot, spec.tokens.eot + 5]), v.text.trim());
      }
    }
    // GPT-2 bytes: "Ġ" is the space byte; a lone continuation byte becomes U+FFFD.
    const v = new Vocabulary(['a', 'Ġb', 'Ã', '©', 'Ā'], 5);
    assert.equal(v.decodeRaw([0, 1, 2, 3]), 'a bé');
    assert.equal(v.decodeRaw([3, 4]), '\ufffd\u0000');
    assert.equal(v.decode([1]), 'b');
  });
});
