/**
 * Which decoding the speech stage asks for: the configured beam for a final utterance while nothing
 * waits behind it; greedy (`fast`) for finals while other utterances queue up (a busy recogniser
 * catches up) and for interim hypotheses. Real parts (Silero VAD, Whisper tiny.en, espeak-ng
 * speech); the test only records what each recogniser call asked for, and holds the first call
 * until two more utterances wait.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { loadSpeech } from '../../src/speech/index.js';
import { createSpeechStage, type Recognizer } from '../../src/speech/stage.js';
import { decodeSpeech } from '../../src/speech/audio.js';
import type { TranscriptSegment } from '../../src/schemas/records.js';
import { s16Chunks, toS16 } from '../fixtures/records.js';
import { espeakWav } from '../fixtures/speech.js';

test(
  'finals get the beam while the recogniser has room; greedy while others queue or it was busy with finals over 30 % of the last 10 s, and for interims',
  { timeout: 180_000 },
  async () => {
    const config = loadConfig({ overrides: { logLevel: 'silent', asr: { mode: 'auto', threads: 1 } } });
    assert.equal(config.asr.beamSize, 5, 'the default beam');
    const parts = (await loadSpeech(config, silentLogger))!;
    const calls: { utterances: number; fast: boolean }[] = [];
    const segments: TranscriptSegment[] = [];
    const waitFor = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 1200 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(ok(), what);
    };
    let holdFirst = true;
    let clock = 1_000_000; // the stage's clock: each recogniser call moves it by callTakesMs
    let callTakesMs = 0;
    let stage: ReturnType<typeof createSpeechStage> | null = null;
    const real = parts.recognizerFor(16_000);
    const recognizer: Recognizer = {
      name: real.name,
      transcribe: async (utterances, options) => {
        calls.push({ utterances: utterances.length, fast: options?.fast === true });
        clock += callTakesMs;
        // Holding the first call until two more utterances wait behind it makes a queue for sure.
        if (holdFirst && calls.length === 1) await waitFor('two utterances queued', () => stage!.stats().queued >= 2);
        return real.transcribe(utterances, options);
      },
    };
    const make = (interimMs: number) =>
      createSpeechStage({
        mode: 'auto',
        recognizers: [recognizer],
        recognizerFor: () => recognizer,
        newCutter: parts.newCutter,
        send: async (s) => void segments.push(...s),
        maxBatch: 1,
        maxQueued: 100,
        maxSessions: 10,
        holdTimeoutMs: 60_000,
        interimMs,
        onError: (e) => assert.fail(String(e)),
        logger: silentLogger,
        now: () => (clock += 1),
      });
    const said = ['the supporting cast is either hit or miss', 'cause its worth it', 'the train leaves the station at nine'];
    const speech = await Promise.all(said.map(async (text, i) => decodeSpeech(espeakWav(`stagebeam${i}`, text, undefined, ['-v', 'en-us', '-s', '160']))));
    const silence = new Float32Array(16_000);
    try {
      // Three sessions' utterances: the first runs alone (beam), the second with one behind it (greedy), the last alone.
      stage = make(0);
      for (const [i, s] of speech.entries()) for (const c of s16Chunks(toS16(silence, s, silence), `s${i}`, 1_000_000)) stage.audio(c);
      await waitFor('three final segments', () => segments.filter((s) => s.isFinal && s.text !== '').length === 3);
      await stage.close();
      assert.deepEqual(
        calls.map((c) => c.fast),
        [false, true, false],
        JSON.stringify(calls),
      );
      // Interims (every 1 s of an open utterance, while the recogniser is idle) are greedy; the final is not.
      calls.length = 0;
      segments.length = 0;
      holdFirst = false;
      const live = make(1000);
      const long = await decodeSpeech(
        espeakWav('stagebeam-long', 'we should meet again next week to talk about the plan for the garden and the house', undefined, [
          '-v',
          'en-us',
          '-s',
          '130',
        ]),
      );
      for (const c of s16Chunks(toS16(silence, long, silence), 'live', 2_000_000)) {
        live.audio(c);
        await new Promise((r) => setTimeout(r, 20));
      }
      await waitFor('a final segment', () => segments.some((s) => s.isFinal && s.text !== ''));
      await live.close();
      const interims = segments.filter((s) => !s.isFinal);
      assert.ok(interims.length >= 1, `interims: ${JSON.stringify(segments)}`);
      assert.deepEqual(
        calls.map((c) => c.fast),
        [...interims.map(() => true), false],
        JSON.stringify(calls),
      );

      // A recogniser busy with finals more than 30 % of the last 10 s decodes the next final greedily, though nothing waits.
      calls.length = 0;
      segments.length = 0;
      callTakesMs = 6000;
      const busy = make(0);
      for (const [i, s] of speech.slice(0, 2).entries()) {
        for (const c of s16Chunks(toS16(silence, s, silence), `busy${i}`, 3_000_000)) busy.audio(c);
        await waitFor(`final ${i + 1}`, () => segments.filter((x) => x.isFinal && x.text !== '').length === i + 1);
      }
      await busy.close();
      assert.deepEqual(
        calls.map((c) => c.fast),
        [false, true],
        JSON.stringify(calls),
      );
      assert.equal(busy.stats().fastFinals, 1);
    } finally {
      await parts.release();
    }
  },
);
