/**
 * Which recogniser hears what (config `asr.model` and `asr.telephoneModel`, src/speech/transcribe.ts):
 * audio the VAD hears on its 16 kHz branch goes to the wideband model, audio on its 8 kHz branch
 * (a file or session at 8 kHz or less) to the telephone model, loaded only when such audio comes.
 * Real parts: Silero VAD, Whisper tiny.en and tiny.en-voices, an espeak-ng voice that the two
 * models hear differently (README, Speech recognition, "Voices it never heard").
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/config.js';
import { decodeSpeech } from '../../src/speech/audio.js';
import { loadSpeechModels, transcribeSignal, transcribeSignals, type SpeechModels } from '../../src/speech/transcribe.js';
import type { WhisperModelName } from '../../src/speech/whisper/install.js';
import { memoryLogger } from '../fixtures/ingestFakes.js';
import { espeakWav, normalise } from '../fixtures/speech.js';
import { modelDir } from '../fixtures/whisper.js';

const SAID = 'this movie is terrible for these reasons';
const load = (asr: { model?: WhisperModelName; telephoneModel?: WhisperModelName | null }, logger = memoryLogger().logger) =>
  loadSpeechModels(loadConfig({ overrides: { logLevel: 'silent', asr: { ...asr, threads: 1 } } }), logger);
const loadingLines = (lines: Record<string, unknown>[]) => lines.filter((l) => String(l.msg).startsWith('loading Whisper'));

describe('asr.model for wideband audio, asr.telephoneModel for 8 kHz audio', () => {
  let audio: Float32Array;
  let models: SpeechModels;
  const log = memoryLogger();

  before(async () => {
    await modelDir('tiny.en-voices');
    await modelDir('tiny.en');
    // en+f4 is one of the test set's voices: tiny.en-voices hears it exactly, tiny.en does not.
    audio = await decodeSpeech(espeakWav('models-f4', SAID, 16000, ['-v', 'en+f4', '-s', '160']));
    models = await load({}, log.logger); // the defaults: tiny.en-voices, tiny.en
  });

  after(async () => {
    await models?.release();
  });

  it('the defaults route each signal by its rate, and load the telephone model at its first audio', async () => {
    assert.equal(models.recognizers[16000].model, 'tiny.en-voices');
    assert.equal(models.recognizers[8000].model, 'tiny.en');
    const wideOnly = await transcribeSignal(audio, models, 16000);
    assert.equal(normalise(wideOnly.text), SAID);
    assert.deepEqual(loadingLines(log.lines), [], 'no telephone audio yet: tiny.en not loaded');

    // The same audio, said to arrive at 16 kHz and at 8 kHz, in one call.
    const [wide, phone] = await transcribeSignals([audio, audio], models, [16000, 8000]);
    assert.equal(wide!.text, wideOnly.text);
    assert.equal(loadingLines(log.lines).length, 1, 'tiny.en loaded once, for the 8 kHz signal');
    assert.notEqual(normalise(phone!.text), SAID, `tiny.en heard "${phone!.text}"`);

    // Each is what its model alone hears on that branch.
    for (const [model, inRate, expected] of [
      ['tiny.en', 8000, phone!.text],
      ['tiny.en-voices', 16000, wide!.text],
    ] as const) {
      const alone = await load({ model, telephoneModel: null });
      try {
        assert.equal(alone.recognizers[8000], alone.recognizers[16000], 'telephoneModel null: one model for both');
        assert.equal((await transcribeSignal(audio, alone, inRate)).text, expected, `${model} at ${inRate} Hz`);
      } finally {
        await alone.release();
      }
    }
  });
});
