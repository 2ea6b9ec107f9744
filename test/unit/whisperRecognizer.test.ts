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
import { gatherRows, repeatRows, topLogProbs } from '../../src/speech/whisper/beam.js';
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

  it('beam search: a beam of 1 is greedy decoding, token for token; a beam of 5 is exact per row in a batch', async () => {
    const audio = [
      sample,
      await decodeSpeech(sharedData('ravdess', '03-01-01-01-01-01-01.flac')),
      await decodeSpeech(sharedData('ravdess', '03-01-05-02-02-01-12.flac')),
      await decodeSpeech(espeakWav('numbers', 'One two three four five six seven.')),
    ];
    const mode = parseDecodingMode('trim:100:50+guard4');
    for (const a of audio) {
      const mel = logMel(a);
      const frames = encoderFrames(mel.frames, mode);
      const input = new Float32Array(N_MELS * frames);
      copyFrames(mel, 0, frames, input, 0);
      const encoded = await asr.encode(input, 1, frames);
      assert.deepEqual(await asr.beam(encoded, { beamSize: 1, repeatGuard: 4 }), await asr.greedy(encoded, { repeatGuard: 4 }));
    }
    const together = await asr.transcribe(audio, { beamSize: 5, maxBatch: 8 });
    const alone = [];
    for (const a of audio) alone.push(...(await asr.transcribe([a], { beamSize: 5, maxBatch: 1 })));
    assert.deepEqual(together, alone);
    assert.equal(normalise(together[1]!.text), normalise('Kids are talking by the door'));
    assert.equal(normalise(together[2]!.text), normalise('Dogs are sitting by the door'));
    await assert.rejects(asr.transcribe([sample], { beamSize: 17 }), /beamSize must be an integer in 1\.\.16, got 17/);
  });

  it('beam search hears MOSI dev sentences that greedy decoding gets wrong (espeak-ng en-us, 160 words a minute)', async () => {
    const words = (text: string) => normalise(text).replace(/'/g, ''); // MOSI writes "its" for "it's"
    for (const [i, said] of ['the supporting cast is either hit or miss', 'cause its worth it'].entries()) {
      const audio = await decodeSpeech(espeakWav(`beam${i}`, said, undefined, ['-v', 'en-us', '-s', '160']));
      const [greedy] = await asr.transcribe([audio], { beamSize: 1 });
      const [beam] = await asr.transcribe([audio], { beamSize: 5 });
      assert.equal(words(beam!.text), said, `beam 5 heard ${JSON.stringify(beam!.text)}`);
      assert.notEqual(words(greedy!.text), said, `greedy heard ${JSON.stringify(greedy!.text)} (no longer a case where the beam matters)`);
    }
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

  it('beam search helpers: log-probabilities of the best tokens under a mask, rows repeated and gathered', () => {
    const row = Float32Array.from([0, 1, 2, 3, -Infinity, 0, 0, 0]); // token 4 suppressed
    const top = topLogProbs(row, 3);
    assert.deepEqual(
      top.map((t) => t.token),
      [3, 2, 1],
    );
    const logZ = Math.log([0, 1, 2, 3, 0, 0, 0].reduce((a, x) => a + Math.exp(x), 0));
    top.forEach((t) => assert.ok(Math.abs(t.logp - (row[t.token]! - logZ)) < 1e-6));
    // Ties: the lower token id first; suppressed tokens never come back.
    assert.deepEqual(
      topLogProbs(Float32Array.from([1, 1, 1]), 2).map((t) => t.token),
      [0, 1],
    );
    assert.deepEqual(
      topLogProbs(Float32Array.from([-Infinity, 0]), 2).map((t) => t.token),
      [1],
    );
    // [layers 2, batch 2, 1, 2] -> each batch row twice, then picked by source.
    const t = { type: 'float32' as const, data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), dims: [2, 2, 1, 2] };
    const rep = repeatRows(t, 2);
    assert.deepEqual(rep.dims, [2, 4, 1, 2]);
    assert.deepEqual([...(rep.data as Float32Array)], [1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6, 7, 8, 7, 8]);
    const g = gatherRows(t, [1, 1]);
    assert.deepEqual([...(g.data as Float32Array)], [3, 4, 3, 4, 7, 8, 7, 8]);
    assert.equal(gatherRows(t, [0, 1]), t);
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
