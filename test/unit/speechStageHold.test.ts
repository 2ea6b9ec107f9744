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
import { loadSpeech } from '../../src/speech/index.js';
import { createSpeechStage } from '../../src/speech/stage.js';
import type { AudioChunk } from '../../src/schemas/records.js';
import { silentChunk } from '../fixtures/records.js';

test('audio queued behind a chunk that went through the VAD keeps the windows held', { timeout: 120_000 }, async () => {
  const config = loadConfig({ overrides: { logLevel: 'silent', asr: { mode: 'auto', threads: 1 } } });
  const parts = (await loadSpeech(config, silentLogger))!;
  // Each push waits for its gate, then runs the real VAD.
  const gates: Array<() => void> = [];
  const entered: number[] = [];
  let open = false; // once set, pushes no longer wait (so the stage can close whatever happened)
  const stage = createSpeechStage({
    mode: 'auto',
    recognizers: parts.recognizers,
    recognizerFor: parts.recognizerFor,
    newCutter: (inRate) => {
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
    },
    send: async () => undefined,
    maxBatch: 4,
    maxQueued: 100,
    maxSessions: 10,
    holdTimeoutMs: 60_000,
    interimMs: 0,
    onError: (e) => assert.fail(String(e)),
    logger: silentLogger,
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
