// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * The Kafka transport against a real broker (env KAFKA_BROKERS, default 127.0.0.1:9092):
 * backpressure (pause / resume, bounded buffer), commits that stop at the first unfinished
 * record, dead-lettering of malformed input, no re-emission after a rebalance.
 * Every run uses its own topics and consumer groups.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { concatMap, map, timer } from 'rxjs';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { createCodec } from '../../src/schemas/codec.js';
import type { AudioChunk, DeadLetter } from '../../src/schemas/records.js';
import { CommitTracker } from '../../src/transport/commitTracker.js';
import {
  createCommitter,
  createIdempotentProducer,
  createInputConsumer,
  createKafka,
  createKafkaSink,
  createKafkaSource,
  createLagProbe,
  createTransportStats,
  ensureTopics,
} from '../../src/transport/kafka/index.js';
import { topicNames } from '../../src/transport/topics.js';
import type { RawRecord } from '../../src/transport/types.js';
import { brokers } from '../fixtures/env.js';
import { silentChunk } from '../fixtures/records.js';

const run = randomUUID().slice(0, 8);
const names = topicNames({ prefix: `it-${run}.` });
const extra = { commits: `it-${run}.commits`, rebalance: `it-${run}.rebalance`, hold: `it-${run}.hold`, slices: `it-${run}.slices` };
const codec = createCodec();

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const consumers: Consumer[] = [];

const T0 = 1_700_000_000_000;
const chunk = (sessionId: string, seq: number): AudioChunk => silentChunk({ sessionId, seq, eventTime: T0 + seq * 100 });

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function consumer(groupId: string): Promise<Consumer> {
  const c = createInputConsumer(kafka, { groupId, maxWaitTimeInMs: 100, maxBytes: 256 * 1024, maxBytesPerPartition: 64 * 1024 });
  await c.connect();
  consumers.push(c);
  return c;
}

async function produceAudio(topic: string, n: number, sessions = 4): Promise<void> {
  const messages = Array.from({ length: n }, (_, i) => {
    const record = chunk(`s${i % sessions}`, Math.floor(i / sessions));
    return { key: record.sessionId, value: codec.encode(record, 'audio') };
  });
  await producer.send({ topic, messages });
}

before(async () => {
  kafka = createKafka({ brokers, clientId: `it-${run}` });
  admin = kafka.admin();
  await admin.connect();
  const created = await ensureTopics(admin, [...Object.values(names)], 2);
  assert.equal(created.length, 6);
  assert.deepEqual(await ensureTopics(admin, names, 2), [], 'a second call creates nothing');
  await ensureTopics(admin, [extra.commits], 1);
  await ensureTopics(admin, [extra.rebalance], 4);
  await ensureTopics(admin, [extra.slices], 1);
  producer = createIdempotentProducer(kafka);
  await producer.connect();
});

after(async () => {
  for (const c of consumers) await c.disconnect().catch(() => undefined);
  await producer?.disconnect();
  await admin?.deleteTopics({ topics: [...Object.values(names), ...Object.values(extra)] }).catch(() => undefined);
  await admin?.disconnect();
});

test('backpressure: a slow consumer makes the source pause and resume, and the buffer stays bounded', { timeout: 90_000 }, async (t) => {
  const n = 80;
  const maxRecords = 5;
  await produceAudio(names.audio, n);
  const stats = createTransportStats();
  const tracker = new CommitTracker();
  const source = createKafkaSource({ consumer: await consumer(`g-bp-${run}`), topics: [names.audio], fromBeginning: true, maxRecords, tracker, stats });
  const seen: RawRecord[] = [];
  let bufferedAtEmit = 0;
  const sub = source.records$
    .pipe(
      map((r) => {
        bufferedAtEmit = Math.max(bufferedAtEmit, stats.buffered);
        return r;
      }),
      // Slow downstream: 15 ms per record, records wait in concatMap's queue meanwhile.
      concatMap((r) => timer(15).pipe(map(() => r))),
    )
    .subscribe((r) => {
      seen.push(r);
      tracker.settled(r);
      source.release(r);
    });
  try {
    await waitFor(`${n} records`, () => seen.length >= n, 60_000);
    t.diagnostic(`paused ${stats.paused}x, resumed ${stats.resumed}x, maxBuffered ${stats.maxBuffered}, refused ${stats.refused}`);
    assert.equal(seen.length, n, 'each record exactly once');
    assert.ok(stats.paused >= 1, `paused ${stats.paused} times`);
    assert.ok(stats.resumed >= 1, `resumed ${stats.resumed} times`);
    assert.ok(stats.maxBuffered <= maxRecords, `buffered reached ${stats.maxBuffered}, bound ${maxRecords}`);
    assert.ok(bufferedAtEmit <= maxRecords);
    assert.equal(stats.buffered, 0);
    assert.equal(stats.consumed, n);
    // Partition order is kept.
    for (const p of [0, 1]) {
      const offsets = seen.filter((r) => r.partition === p).map((r) => Number(r.offset));
      assert.deepEqual(
        offsets,
        [...offsets].sort((a, b) => a - b),
      );
      assert.equal(new Set(offsets).size, offsets.length);
    }
    // Everything settled: the tracker may commit to the end of each partition.
    const total = tracker.committable().reduce((sum, o) => sum + Number(o.offset), 0);
    assert.equal(total, n);
  } finally {
    sub.unsubscribe();
  }
});

test('hold: a stage behind downstream pauses the source with records waiting in Kafka, shown as lag; lifting it resumes', { timeout: 90_000 }, async () => {
  const topic = extra.hold;
  await ensureTopics(admin, [topic], 1);
  const stats = createTransportStats();
  const groupId = `g-hold-${run}`;
  const source = createKafkaSource({ consumer: await consumer(groupId), topics: [topic], fromBeginning: true, stats });
  const lagAdmin = kafka.admin();
  await lagAdmin.connect();
  const lag = createLagProbe({ admin: lagAdmin, groupId, source, stats, intervalMs: 100_000 });
  const seen: RawRecord[] = [];
  const sub = source.records$.subscribe((r) => {
    seen.push(r);
    source.release(r);
  });
  try {
    await produceAudio(topic, 10);
    await waitFor('the first 10 records', () => seen.length >= 10);
    source.hold('model', true);
    assert.deepEqual(stats.heldBy, ['model']);
    await produceAudio(topic, 30);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(seen.length, 10, 'nothing is handed downstream while held');
    assert.equal(await lag.measure(), 30, 'the held records show as consumer lag');
    source.hold('model', false);
    await waitFor('all 40 records', () => seen.length >= 40);
    assert.equal(seen.length, 40, 'each record exactly once');
    assert.equal(await lag.measure(), 0);
    assert.equal(stats.maxLag, 30);
    assert.equal(stats.holds.model, 1);
  } finally {
    sub.unsubscribe();
    await lag.stop();
  }
});

test('bytes bound: a byte limit below two records admits one at a time', { timeout: 90_000 }, async () => {
  const n = 12;
  await produceAudio(names.video, n); // any topic will do: raw records are not decoded here
  const stats = createTransportStats();
  const recordBytes = codec.encode(chunk('s0', 0), 'audio').length + 2;
  const source = createKafkaSource({
    consumer: await consumer(`g-bytes-${run}`),
    topics: [names.video],
    fromBeginning: true,
    maxBytes: recordBytes + 10,
    stats,
  });
  const seen: RawRecord[] = [];
  const sub = source.records$.pipe(concatMap((r) => timer(5).pipe(map(() => r)))).subscribe((r) => {
    seen.push(r);
    source.release(r);
  });
  try {
    await waitFor(`${n} records`, () => seen.length >= n, 60_000);
    assert.equal(stats.maxBuffered, 1);
    assert.ok(stats.maxBufferedBytes <= recordBytes + 10);
    assert.ok(stats.paused >= 1 && stats.resumed >= 1);
  } finally {
    sub.unsubscribe();
  }
});

test('slices: a batch is handed over with turns of the event loop in between, so timers and I/O are served meanwhile', { timeout: 90_000 }, async () => {
  const n = 40;
  await produceAudio(extra.slices, n);
  const source = createKafkaSource({ consumer: await consumer(`g-slices-${run}`), topics: [extra.slices], fromBeginning: true, sliceMs: 0 });
  const seen: RawRecord[] = [];
  let servedAfter: number | null = null;
  const sub = source.records$.subscribe((r) => {
    // Each record is released at once (no backpressure): only the slicing can let the timer in.
    if (seen.length === 0) setImmediate(() => (servedAfter = seen.length));
    seen.push(r);
    source.release(r);
  });
  try {
    await waitFor(`${n} records`, () => seen.length >= n, 60_000);
    // sliceMs 0: a turn after every record. Unsliced, it would wait for the whole first batch (~19 records of 3.2 KB in 64 KiB).
    assert.ok(servedAfter !== null && servedAfter <= 2, `a timer set at the first record ran after ${servedAfter} of ${n} records`);
  } finally {
    sub.unsubscribe();
  }
});

test('commit tracking: the committed offset stops at the first unfinished record', { timeout: 90_000 }, async () => {
  const n = 10;
  await produceAudio(extra.commits, n, 1);
  const groupId = `g-commit-${run}`;
  const c = await consumer(groupId);
  const stats = createTransportStats();
  const tracker = new CommitTracker();
  const source = createKafkaSource({ consumer: c, topics: [extra.commits], fromBeginning: true, tracker, stats });
  const committer = createCommitter({ consumer: c, tracker, stats, intervalMs: 60_000 });
  const seen: RawRecord[] = [];
  const sub = source.records$.subscribe((r) => {
    seen.push(r);
    tracker.joined(r, 2); // each record sits in two windows
    source.release(r);
  });
  const committedOffset = async () => {
    const [topic] = await admin.fetchOffsets({ groupId, topics: [extra.commits] });
    return topic!.partitions.find((p) => p.partition === 0)!.offset;
  };
  const finish = (...offsets: number[]) => tracker.windowDone(offsets.flatMap((o) => [seen[o]!, seen[o]!]));
  try {
    await waitFor(`${n} records`, () => seen.length >= n);
    finish(0, 1, 2, 4, 5, 7, 8, 9);
    await committer.commitNow();
    assert.equal(await committedOffset(), '3', 'record 3 is unfinished');
    tracker.windowDone([seen[3]!]); // one of its two windows
    await committer.commitNow();
    assert.equal(await committedOffset(), '3');
    tracker.windowDone([seen[3]!]);
    await committer.commitNow();
    assert.equal(await committedOffset(), '6', 'next unfinished: 6');
    finish(6);
    assert.deepEqual(await committer.stop(), [{ topic: extra.commits, partition: 0, offset: '10' }]);
    assert.equal(await committedOffset(), '10');
    assert.equal(stats.committed[`${extra.commits}/0`], '10');
    assert.deepEqual(await committer.commitNow(), [], 'nothing new to commit');
  } finally {
    sub.unsubscribe();
  }
});

test('dead letter: malformed records go to the dead-letter topic with topic, partition, offset and reason', { timeout: 90_000 }, async () => {
  const good = codec.encode(chunk('call-7', 0), 'audio');
  const badMagic = Buffer.from(good);
  badMagic[0] = 0x7b;
  const badRate = codec.encode({ ...chunk('call-7', 1), sampleRate: -16000 }, 'audio');
  await producer.send({
    topic: names.transcript,
    messages: [
      { key: 'call-7', value: good },
      { key: 'call-7', value: badMagic },
      { key: 'call-7', value: badRate },
    ],
  });
  const stats = createTransportStats();
  const tracker = new CommitTracker();
  const c = await consumer(`g-dlq-${run}`);
  const source = createKafkaSource({ consumer: c, topics: [names.transcript], fromBeginning: true, tracker, stats });
  const sink = createKafkaSink({ producer, topics: names, stats });
  const decoded: AudioChunk[] = [];
  const sub = source.records$
    .pipe(
      concatMap(async (raw) => {
        const result = codec.decode(raw.value, 'audio');
        if (result.ok) {
          decoded.push(result.value);
          tracker.joined(raw, 0);
        } else {
          await sink.deadLetter(raw, result.code, result.reason, result.sessionId);
          tracker.settled(raw);
        }
        source.release(raw);
      }),
    )
    .subscribe();

  const letters: DeadLetter[] = [];
  const reader = await consumer(`g-dlq-reader-${run}`);
  await reader.subscribe({ topics: [names.deadLetter], fromBeginning: true });
  await reader.run({
    eachMessage: async ({ message }) => {
      const result = codec.decode(message.value, 'deadLetter');
      assert.ok(result.ok, result.ok ? '' : result.reason);
      letters.push(result.value);
    },
  });
  try {
    await waitFor('2 dead letters', () => letters.length >= 2, 60_000);
    assert.equal(decoded.length, 1);
    const [magic, rate] = [...letters].sort((a, b) => Number(a.offset) - Number(b.offset));
    assert.equal(magic!.sourceTopic, names.transcript);
    assert.equal(magic!.code, 'MALFORMED_AVRO');
    assert.match(magic!.reason, /magic byte must be 0 .*got 0x7b/);
    assert.deepEqual(magic!.value, badMagic);
    assert.deepEqual(magic!.key, Buffer.from('call-7'));
    assert.equal(magic!.sessionId, null);
    assert.equal(rate!.code, 'INVALID_FIELD');
    assert.match(rate!.reason, /sampleRate must be > 0, got -16000/);
    assert.equal(rate!.sessionId, 'call-7');
    // All three came from one partition (same key), in order.
    assert.equal(magic!.partition, rate!.partition);
    assert.equal(Number(rate!.offset), Number(magic!.offset) + 1);
    assert.deepEqual(stats.deadLettered, { MALFORMED_AVRO: 1, INVALID_FIELD: 1 });
    assert.equal(stats.produced[names.deadLetter], 2);
    // Dead-lettered records count as done: the commit point passes them.
    assert.deepEqual(tracker.committable(), [{ topic: names.transcript, partition: magic!.partition, offset: String(Number(rate!.offset) + 1) }]);
  } finally {
    sub.unsubscribe();
  }
});

test('rebalance: a second member takes partitions; revoked ones leave the tracker, none is emitted twice', { timeout: 120_000 }, async (t) => {
  const n = 40;
  await produceAudio(extra.rebalance, n, 8);
  const groupId = `g-rebalance-${run}`;
  const tracker = new CommitTracker();
  const statsA = createTransportStats();
  const a = createKafkaSource({ consumer: await consumer(groupId), topics: [extra.rebalance], fromBeginning: true, tracker, stats: statsA });
  const seenA: RawRecord[] = [];
  // Records stay pending (unfinished windows), so nothing is committed before the rebalance.
  const subA = a.records$.subscribe((r) => {
    seenA.push(r);
    tracker.joined(r, 1);
    a.release(r);
  });
  const b = createKafkaSource({ consumer: await consumer(groupId), topics: [extra.rebalance], fromBeginning: true });
  const seenB: RawRecord[] = [];
  let subB: { unsubscribe(): void } | undefined;
  try {
    await waitFor('A reads everything', () => seenA.length >= n, 60_000);
    assert.equal(a.assignment().length, 4);
    subB = b.records$.subscribe((r) => {
      seenB.push(r);
      b.release(r);
    });
    await waitFor('the group to rebalance', () => b.assignment().length > 0 && a.assignment().length < 4, 60_000);
    const kept = new Set(a.assignment().map((tp) => tp.partition));
    // Both fetch again: B re-reads what A lost, A is served its kept partitions again and skips them.
    await waitFor('B to re-read the revoked partitions', () => seenB.length >= seenA.filter((r) => !kept.has(r.partition)).length, 60_000);
    await waitFor('A to be served its kept partitions again', () => statsA.redelivered > 0 || kept.size === 0, 60_000);
    t.diagnostic(`A keeps ${[...kept]}, B got ${seenB.length} records, A skipped ${statsA.redelivered} redelivered, rebalances ${statsA.rebalances}`);
    const keptWithRecords = new Set(seenA.map((r) => r.partition).filter((p) => kept.has(p)));
    assert.deepEqual(new Set(tracker.partitionsTracked().map((tp) => tp.partition)), keptWithRecords, "tracker holds only A's partitions");
    assert.equal(seenA.length, n, 'A emitted nothing twice after the rebalance');
    assert.ok(statsA.redelivered > 0 || kept.size === 0, 'A skipped records served again from the committed offset');
    // B re-reads the revoked partitions from the committed offset (nothing was committed).
    assert.ok(seenB.every((r) => !kept.has(r.partition)));
    assert.equal(seenB.length, seenA.filter((r) => !kept.has(r.partition)).length);
    assert.ok(statsA.rebalances >= 2 && statsA.revokedPartitions >= 1);
  } finally {
    subA.unsubscribe();
    subB?.unsubscribe();
  }
});
