// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * Bad input against the real pipeline and broker: malformed Avro, a record over the size limit,
 * an unknown schema id, a missing session id, a timestamp far outside the session's time, one
 * far ahead of the clock, text that is not UTF-8, and a late record. Each lands on the dead-letter (or late) topic naming topic, partition, offset and
 * reason; it is counted; the pipeline goes on scoring good sessions; and offsets move past them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AudioChunk, DeadLetter, DeadLetterCode, Score, TranscriptSegment } from '../../src/schemas/records.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';
import { generateSession } from '../../src/ingest/sampleSession.js';
import { silentChunk, transcriptSegment } from '../fixtures/records.js';

const T0 = 1_760_000_000_000;
const audio = (sessionId: string, eventTime: number, bytes = 3200, endOfStream = false): AudioChunk =>
  silentChunk({ sessionId, eventTime, endOfStream }, bytes);
const header = (schemaId: number) => {
  const b = Buffer.alloc(5);
  b.writeUInt8(0, 0);
  b.writeUInt32BE(schemaId, 1);
  return b;
};

let h: Harness;
type Sent = { topic: string; partition: number; offset: string };
const sent: Record<string, Sent> = {};

before(async () => {
  h = await startHarness({
    limits: { maxRecordBytes: 64 * 1024 },
    windows: { modalityIdleMs: 0, allowedLatenessMs: 0, maxEventTimeSkewMs: 3600_000 },
  });
  const enc = (a: AudioChunk) => h.codec.encode(a, 'audio');
  sent.malformed = await h.produceRaw('audio', 'bad-avro', Buffer.concat([header(1), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]));
  sent.tooLarge = await h.produceRaw('audio', 'big', enc(audio('big', T0, 100_000)));
  sent.unknownSchema = await h.produceRaw('audio', 'who', Buffer.concat([header(999), enc(audio('who', T0)).subarray(5)]));
  sent.missingSession = await h.produceRaw('audio', null, enc(audio('', T0)));
  // A session at T0, then a record two hours later: far outside the session's time.
  await h.produceRaw('audio', 'skew', enc(audio('skew', T0)));
  sent.outOfRange = await h.produceRaw('audio', 'skew', enc(audio('skew', T0 + 2 * 3600_000)));
  // A session that moves 20 s on, then a record for its first second: its windows have closed.
  // (Its records go a second at a time: a single record far ahead would not move the watermark,
  // windows.maxWatermarkJumpMs.)
  for (let t = 0; t <= 20_000; t += 1000) await h.produceRaw('audio', 'late', enc(audio('late', T0 + t)));
  sent.late = await h.produceRaw('audio', 'late', enc(audio('late', T0 + 100)));
  // A transcript whose text is not UTF-8 (the bytes of 'XXXX' swapped for 0xff 0xfe 0xfd 0xfc).
  const utf: TranscriptSegment = transcriptSegment({ sessionId: 'utf', segmentId: 'u1', eventTime: T0, endTime: T0 + 500, text: 'XXXX', language: null });
  const utfBytes = h.codec.encode(utf, 'transcript');
  utfBytes.set([0xff, 0xfe, 0xfd, 0xfc], utfBytes.indexOf('XXXX'));
  sent.invalidUtf8 = await h.produceRaw('transcript', 'utf', utfBytes);
  // A record 50 minutes ahead of the clock (inside the 1 h skew): a poisoned live session.
  sent.ahead = await h.produceRaw('audio', 'ahead', enc(audio('ahead', Date.now() + 50 * 60_000)));
  // And a good session after all that.
  // (no video: with modality alignment off here, video read after audio would be late; the
  // transcript is produced before the audio so its words are not late either; the session is
  // ended at the end of the test, with the others)
  const good = generateSession({ sessionId: 'good', startTime: T0, script: ['that went well'], videoFps: 0 });
  await h.produce(good.filter((r) => r.kind === 'transcript'));
  await h.produce(good.filter((r) => r.kind !== 'transcript'));
});

after(async () => {
  await h?.close();
});

test('each bad record is dead-lettered with topic, partition, offset and a reason naming the value', async () => {
  const dlq = await h.readTopic<DeadLetter>(h.service.pipeline.topics.deadLetter, 'deadLetter');
  const late = await h.readTopic<DeadLetter>(h.service.pipeline.topics.late, 'deadLetter');
  try {
    await waitFor('7 dead letters and 1 late record', () => dlq.items.length >= 7 && late.items.length >= 1);
    const byCode = new Map(dlq.items.map((d) => [d.value.code, d.value]));
    const expectCase = (code: DeadLetterCode, at: Sent, reason: RegExp, letter = byCode.get(code)) => {
      assert.ok(letter, `a dead letter with code ${code}; got ${[...byCode.keys()].join(', ')}`);
      assert.equal(letter.sourceTopic, at.topic);
      assert.equal(letter.partition, at.partition);
      assert.equal(letter.offset, at.offset, `${code} names the record's offset`);
      assert.match(letter.reason, reason);
    };
    expectCase('MALFORMED_AVRO', sent.malformed!, /./);
    expectCase('TOO_LARGE', sent.tooLarge!, /65536/);
    expectCase('UNKNOWN_SCHEMA_ID', sent.unknownSchema!, /999/);
    expectCase('MISSING_SESSION_ID', sent.missingSession!, /session/i);
    const at = (where: Sent) => dlq.items.find((d) => d.value.offset === where.offset && d.value.sourceTopic === where.topic)?.value;
    expectCase('TIME_OUT_OF_RANGE', sent.outOfRange!, /7200000 ms/, at(sent.outOfRange!));
    expectCase('TIME_OUT_OF_RANGE', sent.ahead!, /ahead of processing time .* maxEventTimeAheadMs=600000/, at(sent.ahead!));
    expectCase('INVALID_FIELD', sent.invalidUtf8!, /text.*UTF-8|UTF-8.*text/, at(sent.invalidUtf8!));
    assert.equal(late.items.length, 1);
    expectCase('LATE', sent.late!, /closed/, late.items[0]!.value);
    assert.equal(late.items[0]!.value.sessionId, 'late');

    const counted = h.service.pipeline.stats().transport.deadLettered;
    for (const code of ['MALFORMED_AVRO', 'TOO_LARGE', 'UNKNOWN_SCHEMA_ID', 'MISSING_SESSION_ID', 'INVALID_FIELD', 'LATE'] as const) {
      assert.equal(counted[code], 1, `counter for ${code}`);
    }
    assert.equal(counted.TIME_OUT_OF_RANGE, 2);
  } finally {
    await dlq.close();
    await late.close();
  }
});

test('the pipeline goes on: the good session is scored and every offset is committed', async () => {
  const scores = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  try {
    await waitFor('scores of the good session', () => scores.items.some((s) => s.value.sessionId === 'good'));
    // Close the sessions left open so that every record is settled, then nothing may lag.
    await h.produce([
      { kind: 'audio', value: audio('skew', T0 + 100, 3200, true) },
      { kind: 'audio', value: audio('late', T0 + 20_100, 3200, true) },
      { kind: 'audio', value: audio('good', T0 + 5000, 3200, true) },
      {
        kind: 'transcript',
        value: transcriptSegment({
          sessionId: 'good',
          segmentId: 'end',
          eventTime: T0 + 5000,
          endTime: T0 + 5000,
          text: '',
          language: null,
          endOfStream: true,
        }),
      },
    ]);
    // Records still in open windows (the 'skew', 'late' and 'good' sessions) held their partitions back until now.
    assert.equal(await h.waitCommitted(), 0, 'offsets committed past every dead-lettered record');
  } finally {
    await scores.close();
  }
});
