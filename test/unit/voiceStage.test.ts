/**
 * The voice stage on real parts (Silero VAD, the Whisper tiny.en encoder, models/voice/reader.json):
 * RAVDESS speech, angry then happy, as 200 ms audio records. Windows asked before their audio is read
 * wait for it (asked after the first utterance was read and before the second); each window's value is the duration-weighted mean over the utterances it overlaps
 * (asked all at once, as the scoring does, no window loses a reading to a later one); a session's
 * state is freed by `end`, by `forget`, and after `idleMs` without audio.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { decodeAudio } from '../../src/media/ffmpeg/index.js';
import type { AudioChunk } from '../../src/schemas/records.js';
import { loadVoice } from '../../src/voice/index.js';
import { createVoiceStage, windowValue } from '../../src/voice/stage.js';
import { repoRoot } from '../fixtures/env.js';
import { sharedData } from '../fixtures/whisper.js';
import { s16Chunks, toS16 } from '../fixtures/records.js';

test('windowValue: duration-weighted mean over the overlapping readings; none overlapping is null', () => {
  const r = [
    { from: 0, to: 1000, value: -2 },
    { from: 2000, to: 4000, value: 1 },
  ];
  assert.equal(windowValue(r, 4000, 6000), null);
  assert.deepEqual(windowValue(r, 500, 3000), { value: (500 * -2 + 1000 * 1) / 1500, utterances: 2, ms: 1500 });
});

test('real speech: windows wait for their voice values, weigh the utterances they overlap, and the state is freed', { timeout: 120_000 }, async () => {
  const config = loadConfig({
    overrides: { logLevel: 'silent', voice: { enabled: true, reader: join(repoRoot, 'models', 'voice', 'reader.json') }, asr: { threads: 1 } },
  });
  const parts = (await loadVoice(config, silentLogger))!;
  const errors: unknown[] = [];
  const stageOptions = {
    reader: parts.served.reader,
    pool: parts.pool,
    newCutter: parts.newCutter,
    maxBatch: 8,
    maxQueued: 100,
    maxSessions: 10,
    holdTimeoutMs: 60_000,
    onError: (e: unknown) => errors.push(e),
    logger: silentLogger,
  };
  const stage = createVoiceStage(stageOptions);
  try {
    const clips = await Promise.all(
      ['03-01-05-02-01-01-01', '03-01-03-02-01-01-01'].map((id) => decodeAudio(sharedData('ravdess', `${id}.flac`), { sampleRate: 16_000 })),
    );
    const pcm = toS16(clips[0]!, new Float32Array(16_000), clips[1]!);
    const chunks = (sessionId: string): AudioChunk[] => s16Chunks(pcm, sessionId, 10_000);
    const audio = chunks('a');
    // The first clip and the silence after it (4.6 s): the angry utterance is read.
    for (const c of audio.slice(0, 23)) stage.audio(c);
    const early = await stage.windowVoice('a', 10_000 - 2000, 10_000 + 4000);
    assert.equal(early?.utterances, 1, `the angry clip read: ${JSON.stringify(early)}`);
    // Every later window asked at once before the rest of the audio is read (as the scoring asks
    // them): the later ones must not take the angry reading from the earlier ones.
    const ends = [6000, 7000, 8000, 9000, 10000, 11000].map((e) => 10_000 + e);
    const asked = ends.map((end) => stage.windowVoice('a', end - 6000, end));
    for (const c of audio.slice(23)) stage.audio(c);
    const values = await Promise.all(asked);
    const s = stage.stats();
    assert.equal(s.utterances, 2, `one utterance per clip: ${JSON.stringify(s)}`);
    assert.equal(s.readings, 2);
    assert.ok(
      values.every((v) => v !== null),
      JSON.stringify(values),
    );
    const first = early!;
    const last = values.at(-1)!;
    assert.equal(last.utterances, 1);
    assert.ok(first.value < 0 && last.value > 0, `angry then happy: ${first.value}, ${last.value}`);
    const both = values.filter((v) => v!.utterances === 2);
    assert.ok(both.length >= 1, 'a window over both clips');
    for (const v of both) assert.ok(v!.value > first.value && v!.value < last.value, `weighted mean in between: ${v!.value}`);
    assert.equal(await stage.windowVoice('nobody', 0, 1000), null, 'a session without audio has no voice');

    assert.ok(stage.holds('a'));
    stage.end('a');
    assert.ok(!stage.holds('a'), 'ended: state freed');
    assert.equal(stage.stats().sessionsOpen, 0);
    for (const c of chunks('b').slice(0, 10)) stage.audio(c);
    assert.ok(stage.holds('b'));
    stage.forget('b');
    assert.ok(!stage.holds('b'), 'revoked: state freed');
    assert.deepEqual(errors, []);

    // A session that never ends in the windows (its records all dead-lettered) is freed once idle.
    const idle = createVoiceStage({ ...stageOptions, idleMs: 300 });
    for (const c of chunks('c').slice(0, 5)) idle.audio(c);
    assert.ok(idle.holds('c'));
    const deadline = Date.now() + 20_000;
    while (idle.holds('c') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!idle.holds('c'), 'idle: state freed');
    assert.equal(idle.stats().idleFreed, 1);
    await idle.close();
  } finally {
    await stage.close();
    await parts.release();
  }
});
