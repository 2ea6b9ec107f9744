// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * The whole pipeline against the real broker: a multi-session stream in, scores out on Kafka and
 * on WebSocket. Checks window boundaries, per-session order, that every window holding a record
 * was scored exactly once, that both outputs agree, and that every input offset got committed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { generateSession } from '../../src/ingest/sampleSession.js';
import type { InputRecord, Score } from '../../src/schemas/records.js';
import { expectedWindowEnds, windowsWithWords } from '../fixtures/expectedWindows.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';

const W = 6000;
const H = 1000;
const T0 = 1_760_000_000_000; // fixed event time: windows are computable in the test

let h: Harness;
const sessions = ['call-a', 'call-b', 'stream-c'];
let records: InputRecord[] = [];
const wsScores: Score[] = [];
let ws: WebSocket;
const pongs = new Set<number>();

/** Resolves once the server answered a ping: frames are in order, so every frame it sent before has arrived. */
async function wsRoundTrip(): Promise<void> {
  const id = pongs.size + 1;
  ws.send(JSON.stringify({ type: 'ping', id }));
  await waitFor('a pong on the WebSocket', () => pongs.has(id));
}

before(async () => {
  h = await startHarness({ windows: { sizeMs: W, hopMs: H, allowedLatenessMs: 500 } });
  ws = new WebSocket(`ws://127.0.0.1:${h.service.scoreServer.port}/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as { type: string; score?: Score; id?: number };
    if (msg.type === 'score' && msg.score) wsScores.push(msg.score);
    if (msg.type === 'pong' && typeof msg.id === 'number') pongs.add(msg.id);
  });
  ws.send(JSON.stringify({ type: 'subscribe', all: true }));
  // Three sessions with different lengths and offsets, interim transcripts, all three modalities.
  records = sessions.flatMap((sessionId, i) =>
    generateSession({
      sessionId,
      startTime: T0 + i * 1700,
      script: ['this is great news', 'I am not happy with this at all', 'thanks a lot'].slice(0, i + 1),
      interim: true,
      endOfStream: true,
      seed: i + 1,
    }),
  );
  // Interleave the sessions the way partitions would: sorted by event time overall.
  records.sort((a, b) => a.value.eventTime - b.value.eventTime);
  await h.produce(records);
});

after(async () => {
  ws?.close();
  await h?.close();
});

test('every window the model can read is scored exactly once, on Kafka and on WebSocket; the others are counted', async () => {
  const withRecords = expectedWindowEnds(records, W, H);
  const expected = windowsWithWords(records, W, H);
  const total = [...expected.values()].reduce((n, s) => n + s.size, 0);
  const unreadable = [...withRecords.values()].reduce((n, s) => n + s.size, 0) - total;
  assert.ok(total > 0 && unreadable > 0, 'the stream has windows with words and windows without');
  const scores = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  try {
    await waitFor(`${total} scores on the scores topic`, () => scores.items.length >= total);
    await waitFor(`${total} scores on the WebSocket`, () => wsScores.length >= total);
    // Nothing more may arrive: every input record is committed (so every window was scored and
    // written), the reader has read the whole scores topic, and a pong follows every score frame.
    assert.equal(await h.waitCommitted(), 0, 'every input record committed');
    await scores.caughtUp();
    await wsRoundTrip();
    assert.equal(scores.items.length, total, 'no window scored twice on Kafka');
    assert.equal(wsScores.length, total, 'no window scored twice on WebSocket');

    for (const sessionId of sessions) {
      const fromKafka = scores.items.filter((s) => s.value.sessionId === sessionId);
      const ends = fromKafka.map((s) => s.value.windowEnd);
      assert.deepEqual(new Set(ends), expected.get(sessionId), `${sessionId}: the windows scored are the windows with words`);
      // Boundaries: W long, aligned to H.
      for (const { value } of fromKafka) {
        assert.equal(value.windowEnd - value.windowStart, W);
        assert.equal(value.windowStart % H, 0);
        assert.ok(value.score >= -3 && value.score <= 3);
        assert.match(value.modelVersion, /NOT a sentiment model/);
      }
      // Key = session id; one session stays on one partition and is in window order there.
      assert.ok(fromKafka.every((s) => s.key === sessionId));
      assert.equal(new Set(fromKafka.map((s) => s.partition)).size, 1, `${sessionId} on one partition`);
      assert.deepEqual(
        ends,
        [...ends].sort((a, b) => a - b),
        `${sessionId} in window order on Kafka`,
      );
      const wsEnds = wsScores.filter((s) => s.sessionId === sessionId).map((s) => s.windowEnd);
      assert.deepEqual(wsEnds, ends, `${sessionId}: WebSocket has the same scores in the same order`);
    }
    // Modalities present: exactly those with a record inside the window.
    for (const { value } of scores.items) {
      const inWindow = records.filter(
        (r) =>
          r.value.sessionId === value.sessionId &&
          r.value.eventTime < value.windowEnd &&
          (r.kind === 'transcript' ? r.value.endTime : r.value.eventTime) >= value.windowStart,
      );
      assert.equal(
        value.modalities.audio,
        inWindow.some((r) => r.kind === 'audio'),
        `audio in ${value.sessionId} ${value.windowStart}`,
      );
      assert.equal(
        value.modalities.video,
        inWindow.some((r) => r.kind === 'video'),
        `video in ${value.sessionId} ${value.windowStart}`,
      );
    }
    assert.ok(scores.items.every((s) => s.value.modalities.text));
    // Windows with records but nothing the model reads are counted, not scored, not lost.
    assert.equal(h.service.pipeline.stats().unscoredWindows['no-usable-input'], unreadable);
    // The test model has no codebooks: audio and video are present but not read, and the score says so.
    for (const { value } of scores.items) {
      assert.deepEqual(value.modalitiesUsed, { text: value.modalities.text, audio: false, video: false });
    }
  } finally {
    await scores.close();
  }
});

test('a words-only model: audio and video payloads are not copied out of the Kafka buffers, yet every record counts in its windows and none is late', async () => {
  const stats = h.service.pipeline.stats();
  const audio = records.filter((r) => r.kind === 'audio').length;
  const video = records.filter((r) => r.kind === 'video').length;
  assert.ok(audio > 0 && video > 0);
  assert.deepEqual(stats.payloadsNotCopied, { audio, video }, 'every audio and video record read without copying its payload');
  assert.equal(stats.windows.late, 0, 'no record went to the late topic');
  const scores = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  try {
    await scores.caughtUp();
    assert.ok(scores.items.length > 0);
    for (const { value } of scores.items) {
      // Records per window: the audio chunks and frames inside it count, as when they were decoded in full.
      const inWindow = records.filter(
        (r) =>
          r.kind !== 'transcript' && r.value.sessionId === value.sessionId && r.value.eventTime >= value.windowStart && r.value.eventTime < value.windowEnd,
      );
      const transcripts = value.records - inWindow.length;
      assert.ok(transcripts >= 1, `${value.sessionId} ${value.windowEnd}: ${value.records} records, ${inWindow.length} of them audio and video`);
    }
  } finally {
    await scores.close();
  }
});

test('every input offset is committed once its windows are scored', async () => {
  assert.equal(await h.waitCommitted(), 0, 'all input records committed');
  assert.equal(h.service.pipeline.stats().pending, 0);
});
