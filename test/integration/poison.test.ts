// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * Poison records through Kafka into a running pipeline (issue 12): a 300 KB untimed segment (it
 * once crashed the pipeline on every restart), a segment over the word limit, invalid UTF-8 in a
 * text and in a session id, a record 50 min ahead of now, a new session dated 2100, and one
 * outlier inside the bounds in the middle of a live session. Each bad one lands in dead-letter
 * with its code, everything is committed, and the good sessions are scored in full, none late.
 * Modality alignment is off here so the watermark guard alone must stop the outlier.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AudioChunk, DeadLetter, Score, TranscriptSegment } from '../../src/schemas/records.js';
import { generateSession } from '../../src/ingest/sampleSession.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';
import { silentChunk, transcriptSegment } from '../fixtures/records.js';

const NOW = Date.now();
const START = Math.floor(NOW / 1000) * 1000 - 60_000; // live sessions that began a minute ago
const audio = (sessionId: string, eventTime: number, endOfStream = false): AudioChunk => silentChunk({ sessionId, eventTime, endOfStream });
const segment = (sessionId: string, segmentId: string, eventTime: number, text: string, endOfStream = false): TranscriptSegment =>
  transcriptSegment({ sessionId, segmentId, eventTime, endTime: eventTime + 2000, text, endOfStream });
/** `bytes` with the first `marker` (ASCII) overwritten by `bad` (same length). */
const patch = (bytes: Buffer, marker: string, bad: number[]): Buffer => {
  const out = Buffer.from(bytes);
  const at = out.indexOf(Buffer.from(marker, 'latin1'));
  assert.ok(at > 0);
  Buffer.from(bad).copy(out, at);
  return out;
};

const SCRIPT = ['that went really well thank you', 'i am not happy with the delay', 'but the support was great'];
let h: Harness;
const sent: Record<string, { topic: string; partition: number; offset: string }> = {};

before(async () => {
  h = await startHarness({ limits: { maxWordsPerSegment: 200_000 }, windows: { modalityIdleMs: 0 } });
  const enc = (s: TranscriptSegment) => h.codec.encode(s, 'transcript');
  // 150 000 one-letter words, 300 KB, no word timings: accepted (under the limit set here) and scored.
  sent.huge = await h.produceRaw('transcript', 'huge', enc(segment('huge', 'h1', START, `${'a '.repeat(150_000)}what a great day`, true)));
  sent.wordy = await h.produceRaw('transcript', 'wordy', enc(segment('wordy', 'w1', START, 'a '.repeat(200_001))));
  sent.badText = await h.produceRaw('transcript', 'utf', patch(enc(segment('utf', 'u1', START, 'fine QQQQ text')), 'QQQQ', [0x41, 0xc3, 0x28, 0x41]));
  sent.badSession = await h.produceRaw('transcript', 'sess-QQ', patch(enc(segment('sess-QQ', 's1', START, 'hello')), 'QQ', [0xff, 0xfe]));
  sent.ahead = await h.produceRaw('audio', 'twin-a', h.codec.encode(audio('twin-a', NOW + 50 * 60_000), 'audio'));
  sent.in2100 = await h.produceRaw('audio', 'future', h.codec.encode(audio('future', Date.UTC(2100, 0, 1)), 'audio'));
  // Two live sessions with the same words (transcript only: one topic, so in order with modality
  // alignment off); one gets a segment 5 min ahead (inside the 10 min bound) in the middle.
  for (const id of ['twin-a', 'twin-b']) {
    const records = generateSession({ sessionId: id, startTime: START, script: SCRIPT, videoFps: 0, endOfStream: true, seed: 1 });
    const transcript = records.filter((r) => r.kind === 'transcript');
    const half = Math.floor(transcript.length / 2);
    await h.produce(transcript.slice(0, half));
    if (id === 'twin-a') await h.produce([{ kind: 'transcript', value: segment(id, 'outlier', START + 5 * 60_000, 'far ahead') }]);
    await h.produce(transcript.slice(half));
  }
});

after(async () => {
  await h?.close();
});

test('each poison record is dead-lettered with its code and a reason naming the field or the bound', async () => {
  const dlq = await h.readTopic<DeadLetter>(h.service.pipeline.topics.deadLetter, 'deadLetter');
  try {
    await waitFor('5 dead letters', () => dlq.items.length >= 5);
    const expectLetter = (name: string, code: string, reason: RegExp) => {
      const s = sent[name]!;
      const letter = dlq.items.find((d) => d.value.sourceTopic === s.topic && d.value.partition === s.partition && d.value.offset === s.offset)?.value;
      assert.ok(letter, `a dead letter for ${name}; got ${dlq.items.map((d) => `${d.value.code} ${d.value.reason.slice(0, 60)}`).join(' | ')}`);
      assert.equal(letter.code, code, letter.reason);
      assert.match(letter.reason, reason);
    };
    expectLetter('wordy', 'INVALID_FIELD', /text has more than 200000 words \(limits\.maxWordsPerSegment/);
    expectLetter('badText', 'INVALID_FIELD', /^text is not valid UTF-8/);
    expectLetter('badSession', 'INVALID_FIELD', /^sessionId is not valid UTF-8/);
    expectLetter('ahead', 'TIME_OUT_OF_RANGE', /ms ahead of processing time .* over maxEventTimeAheadMs=600000/);
    expectLetter('in2100', 'TIME_OUT_OF_RANGE', /ahead of processing time/);
    assert.equal(dlq.items.length, 5, 'nothing else was dead-lettered');
  } finally {
    await dlq.close();
  }
});

test('the good sessions are scored in full: the 300 KB segment, and the session with an outlier like its twin, none late; all committed', async () => {
  const scores = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  const late = await h.readTopic<DeadLetter>(h.service.pipeline.topics.late, 'deadLetter');
  try {
    const live = (id: string) => scores.items.filter((s) => s.value.sessionId === id && s.value.windowEnd <= START + 60_000).map((s) => s.value.windowEnd);
    await waitFor(
      'scores of both twins and the huge segment',
      () => live('twin-b').length > 0 && live('twin-a').length >= live('twin-b').length && scores.items.some((s) => s.value.sessionId === 'huge'),
    );
    assert.equal(await h.waitCommitted(), 0, 'every input offset committed, the poison ones included');
    await late.caughtUp();
    await scores.caughtUp();
    assert.deepEqual(live('twin-a').sort(), live('twin-b').sort(), "the outlier closed none of its session's windows early");
    assert.equal(late.items.length, 0, 'no record was late');
    assert.equal(h.service.pipeline.stats().windows.partiallyLate, 0);
  } finally {
    await scores.close();
    await late.close();
  }
});
