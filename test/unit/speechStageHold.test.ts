/**
 * The speech stage's watermark hold covers audio still queued for voice activity detection: with
 * two chunks taken and the first one through the VAD, the windows stay held from where the second
 * chunk's audio starts (or earlier: the cutter's undecided tail) until it is through too. Real parts (Silero VAD, Whisper tiny.en); the
 * test only decides when each chunk's turn at the VAD may finish.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { loadSpeech, type SpeechParts } from '../../src/speech/index.js';
import { createSpeechStage } from '../../src/speech/stage.js';
import type { AudioChunk } from '../../src/schemas/records.js';
import { silentChunk } from '../fixtures/records.js';

/** The stage on the real parts, with `newCutter` (the test's own gates, or the real one). */
function stageOn(parts: SpeechParts, newCutter: SpeechParts['newCutter']) {
  return createSpeechStage({
    mode: 'auto',
    recognizers: parts.recognizers,
    recognizerFor: parts.recognizerFor,
    newCutter,
    send: async () => undefined,
    maxBatch: 4,
    maxQueued: 100,
    maxSessions: 10,
    holdTimeoutMs: 60_000,
    interimMs: 0,
    onError: (e) => assert.fail(String(e)),
    logger: silentLogger,
  });
}

test('audio queued behind a chunk that went through the VAD keeps the windows held', { timeout: 120_000 }, async () => {
  // The band probe off: it would hold these silent 16 kHz chunks itself (the next test).
  const config = loadConfig({ overrides: { logLevel: 'silent', asr: { mode: 'auto', threads: 1, vad: { detectNarrowband: false } } } });
  const parts = (await loadSpeech(config, silentLogger))!;
  // Each push waits for its gate, then runs the real VAD.
  const gates: Array<() => void> = [];
  const entered: number[] = [];
  let open = false; // once set, pushes no longer wait (so the stage can close whatever happened)
  const stage = stageOn(parts, (inRate) => {
    const real = parts.newCutter(inRate);
    let calls = 0;
    return {
      ...real,
      push: async (samples: Float32Array) => {
        const n = calls++;
        entered.push(n);
        if (!open) await new Promise<void>((resolve) => (gates[n] = resolve));
        return real.push(samples);
      },
    };
  });
  const T0 = 50_000;
  const silence = (seq: number): AudioChunk => silentChunk({ sessionId: 's', seq, eventTime: T0 + seq * 500 }, 16_000); // 500 ms of silence
  const turn = async (n: number) => {
    while (!entered.includes(n)) await new Promise((r) => setImmediate(r));
  };
  try {
    stage.audio(silence(0));
    stage.audio(silence(1));
    await turn(0);
    assert.equal(stage.heldAt('s', T0 + 1000), T0, 'both chunks are waiting: held from the first');
    gates[0]!();
    await turn(1); // the first chunk is through the VAD; the second is at it now
    const held = stage.heldAt('s', T0 + 1000);
    assert.ok(held !== null && held >= T0 && held <= T0 + 500, `the second chunk is not through the VAD yet: held at or before where it starts, got ${held}`);
    gates[1]!();
    const past = () => {
      const h = stage.heldAt('s', T0 + 1000);
      return h === null || h > T0 + 500;
    };
    for (let i = 0; i < 200 && !past(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(past(), `both chunks through the VAD, no speech: the hold moved past the second chunk's start (${stage.heldAt('s', T0 + 1000)})`);
  } finally {
    open = true;
    for (const g of gates) g?.();
    await stage.close();
    await parts.release();
  }
});

test(
  'a 16 kHz session is held from its first sample while its band is unknown, and let go once the probe gives up on silence',
  { timeout: 120_000 },
  async () => {
    const config = loadConfig({ overrides: { logLevel: 'silent', asr: { mode: 'auto', threads: 1 } } });
    assert.equal(config.asr.vad.detectNarrowband, true, 'the default');
    const parts = (await loadSpeech(config, silentLogger))!;
    const stage = stageOn(parts, parts.newCutter);
    const T0 = 50_000;
    const send = (from: number, to: number) => {
      for (let seq = from; seq < to; seq++) stage.audio(silentChunk({ sessionId: 's', seq, eventTime: T0 + seq * 500 }, 16_000)); // 500 ms each
    };
    try {
      send(0, 6); // 3 s of silence: past decideAfterMs, but no signal to decide on
      await new Promise((r) => setTimeout(r, 300)); // the VAD's turn (without the probe, the hold would move past T0: the test above)
      assert.equal(stage.heldAt('s', T0 + 3000), T0, 'band unknown: held from the first sample');
      send(6, 12); // to 6 s: past giveUpAfterMs
      const past = () => {
        const h = stage.heldAt('s', T0 + 6000);
        return h === null || h > T0 + 5000;
      };
      for (let i = 0; i < 200 && !past(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(past(), `the probe gave up: the VAD decided the silence, got ${stage.heldAt('s', T0 + 6000)}`);
    } finally {
      await stage.close();
      await parts.release();
    }
  },
);
