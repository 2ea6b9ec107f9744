// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * The voice path served end to end (issue 11): real RAVDESS speech as 16 kHz audio records without
 * any transcript, through Kafka into the pipeline with `voice.enabled` (the real Whisper tiny.en
 * encoder, Silero VAD, models/voice/reader.json) and no speech recognition. The audio-only session
 * is scored by its voice: modalitiesUsed.audio true, a non-zero audio contribution that is the
 * whole window score (the words-only model has nothing to read), text exactly 0. A words-only
 * session beside it (the shipped words-only model) gets an audio contribution of exactly 0. Both sessions' voice state is freed
 * once they ended, and every record is committed, none late.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { decodeAudio } from '../../src/media/ffmpeg/index.js';
import type { DeadLetter, InputRecord, Score, TranscriptSegment } from '../../src/schemas/records.js';
import { startHarness, waitFor } from '../fixtures/pipelineHarness.js';
import { repoRoot } from '../fixtures/env.js';
import { modelDir, sharedData } from '../fixtures/whisper.js';
import { s16Chunks, toS16, transcriptSegment } from '../fixtures/records.js';

// Actor 01: angry, then happy (RAVDESS, 16 kHz after decoding).
const CLIPS = ['03-01-05-02-01-01-01', '03-01-03-02-01-01-01'].map((id) => sharedData('ravdess', `${id}.flac`));
const RATE = 16_000;
const CHUNK_MS = 200;

let pcm: Int16Array;

before(async () => {
  await modelDir('tiny.en');
  const clips = await Promise.all(CLIPS.map((f) => decodeAudio(f, { sampleRate: RATE })));
  const gap = new Float32Array(RATE); // 1 s of silence between the clips
  pcm = toS16(clips[0]!, gap, clips[1]!);
});

function audioRecords(sessionId: string, t0: number): InputRecord[] {
  return s16Chunks(pcm, sessionId, t0, { sampleRate: RATE, chunkMs: CHUNK_MS }).map((value) => ({ kind: 'audio', value }));
}

function transcriptRecords(sessionId: string, t0: number): InputRecord[] {
  const texts = ['I really love this wonderful phone', 'the battery is terrible and I am very angry'];
  return texts.map((text, i): InputRecord => {
    const value: TranscriptSegment = transcriptSegment({
      sessionId,
      segmentId: `w${i}`,
      eventTime: t0 + i * 3000,
      endTime: t0 + i * 3000 + 2500,
      text,
      endOfStream: i === texts.length - 1,
    });
    return { kind: 'transcript', value };
  });
}

test(
  'an audio-only session is scored by its voice; a words-only session has an audio contribution of exactly 0; voice state freed at the end',
  { timeout: 300_000 },
  async () => {
    // The shipped words-only model: a modality it did not read contributes exactly 0 (test/unit/contributions.test.ts).
    const h = await startHarness({ voice: { enabled: true }, model: { manifest: join(repoRoot, 'models', 'manifest.json') } });
    try {
      const { topics } = h.service.pipeline;
      const scores = await h.readTopic<Score>(topics.scores, 'score');
      const late = await h.readTopic<DeadLetter>(topics.late, 'deadLetter');
      const voiced = `voice-${randomUUID().slice(0, 8)}`;
      const worded = `words-${randomUUID().slice(0, 8)}`;
      const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
      await h.produce([...audioRecords(voiced, t0), ...transcriptRecords(worded, t0)]);

      const of = (id: string) => scores.items.map((i) => i.value).filter((s) => s.sessionId === id);
      await waitFor(
        'both sessions scored and their voice state freed',
        () => {
          const v = h.service.pipeline.stats().voice!;
          return of(voiced).length > 0 && of(worded).length > 0 && v.sessionsRead >= 1 && v.sessionsOpen === 0;
        },
        180_000,
      );
      await scores.caughtUp();

      const v = of(voiced);
      const heard = v.filter((s) => s.modalitiesUsed?.audio === true);
      assert.ok(heard.length >= 1, `scores of the audio-only session: ${JSON.stringify(v.map((s) => [s.windowEnd - t0, s.modalitiesUsed, s.contributions]))}`);
      for (const s of v) {
        assert.equal(s.modalitiesUsed?.audio, true, `window ending ${s.windowEnd - t0}: scored only by its voice`);
        assert.equal(s.modalitiesUsed?.text, false);
        assert.equal(s.contributions.text, 0);
        assert.ok(s.contributions.audio !== 0, `a voice value went in: audio contribution ${s.contributions.audio}`);
        assert.ok(Math.abs(s.contributions.audio) <= 1 + 1e-9, 'W * clamp(v, -1, 1) with W = reader.json fusion.weight (0.15, at most 1)');
        assert.ok(
          Math.abs(s.windowScore - s.contributions.audio) < 1e-6,
          `the model read nothing: the window score ${s.windowScore} is the voice term ${s.contributions.audio}`,
        );
      }
      // Angry, then happy: the voice term goes from negative to positive, windows over both in between.
      const terms = v.map((s) => s.contributions.audio);
      const trace = JSON.stringify(v.map((s) => [s.windowStart - t0, s.windowEnd - t0, s.contributions.audio]));
      assert.ok(terms[0]! < 0 && terms.at(-1)! > 0, `voice terms by window: ${trace}`);
      assert.ok(
        terms.some((x) => x > terms[0]! && x < terms.at(-1)!),
        `a window over both utterances weighs them: ${trace}`,
      );
      const w = of(worded);
      assert.ok(w.length >= 1);
      for (const s of w) {
        assert.equal(s.contributions.audio, 0, 'no utterance went in: exactly 0');
        assert.equal(s.modalitiesUsed?.audio, false);
        assert.equal(s.modalitiesUsed?.text, true);
      }

      const stats = h.service.pipeline.stats().voice!;
      assert.ok(stats.readings >= 2 && stats.waitTimeouts === 0 && stats.droppedUtterances === 0 && stats.shedWindows === 0, JSON.stringify(stats));
      assert.equal(stats.sessionsRead, 1, 'only the session with audio is read');
      // The voice path's encoder and VAD in worker threads (voice.inWorker), on /metrics with the VAD's batching.
      const p = h.service.pipeline.stats();
      assert.equal(p.workers['voice-encoder']?.workers, 1, JSON.stringify(p.workers));
      assert.equal(p.workers['voice-vad']?.crashes, 0);
      const vad = p.vad.voice!;
      assert.ok(vad.chunks > 0 && vad.runs > 0 && vad.runs <= vad.chunks, JSON.stringify(vad));
      assert.equal(p.vad.speech, null, 'asr is off');
      const text = await (await fetch(`http://127.0.0.1:${h.service.http.port}/metrics`)).text();
      assert.match(text, new RegExp(`^msa_vad_chunks_total\\{stage="voice"\\} ${vad.chunks}$`, 'm'));
      assert.match(text, new RegExp(`^msa_vad_graph_calls_total\\{stage="voice"\\} ${vad.runs}$`, 'm'));
      assert.match(text, /^msa_worker_threads\{pool="voice-encoder"\} 1$/m);
      assert.equal(await h.waitCommitted(), 0, 'every input record committed');
      await late.caughtUp();
      assert.deepEqual(
        late.items.filter((i) => [voiced, worded].includes(i.value.sessionId ?? '')).map((i) => i.value.reason),
        [],
      );
      await Promise.all([scores.close(), late.close()]);
    } finally {
      await h.close();
    }
  },
);

test(
  'the default: speech recognition and the voice path together on audio without a transcript (words + voice in one score)',
  { timeout: 300_000 },
  async () => {
    const h = await startHarness({
      voice: { enabled: true },
      asr: { mode: 'auto', interimMs: 0 },
      model: { manifest: join(repoRoot, 'models', 'manifest.json') },
    });
    try {
      const scores = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
      const sessionId = `both-${randomUUID().slice(0, 8)}`;
      const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
      await h.produce(audioRecords(sessionId, t0));
      const mine = () => scores.items.map((i) => i.value).filter((s) => s.sessionId === sessionId);
      await waitFor('the session scored and its voice state freed', () => mine().length > 0 && h.service.pipeline.stats().voice!.sessionsOpen === 0, 180_000);
      await scores.caughtUp();
      const both = mine().filter((s) => s.modalitiesUsed?.text && s.modalitiesUsed.audio);
      assert.ok(
        both.length >= 1,
        `windows read with words and voice: ${JSON.stringify(mine().map((s) => [s.windowEnd - t0, s.modalitiesUsed, s.contributions]))}`,
      );
      for (const s of both) {
        assert.ok(s.contributions.text !== 0 && s.contributions.audio !== 0, JSON.stringify(s.contributions));
        assert.ok(
          Math.abs(s.windowScore - (s.contributions.text + s.contributions.audio + s.contributions.video)) < 1e-3,
          `score = words + voice: ${JSON.stringify(s)}`,
        );
      }
      const speech = h.service.pipeline.stats().speech!;
      assert.ok(speech.segments >= 2, JSON.stringify(speech));
      assert.equal(await h.waitCommitted(), 0, 'every input record committed');
      await scores.close();
    } finally {
      await h.close();
    }
  },
);
