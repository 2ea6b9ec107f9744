// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * Exactly-once output (src/transport/kafka/transactional.ts) against a real broker: a transaction
 * whose writes add up to more than the broker's `message.max.bytes` (1 MB by default) goes out as
 * several requests, not as one record batch the broker refuses with MESSAGE_TOO_LARGE. That error
 * failed `msa run` at 400 load-bench sessions, with 626 late audio records (3.2 KB each) queued
 * for one transaction (README, Load).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { CommitTracker } from '../../src/transport/commitTracker.js';
import { createKafka, ensureTopics } from '../../src/transport/kafka/index.js';
import { createTransactionalOutput, transactionalProducerOptions } from '../../src/transport/kafka/transactional.js';
import { brokers } from '../fixtures/env.js';

const run = randomUUID().slice(0, 8);
const topic = `it-${run}.late`;
const input = `it-${run}.audio`;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let consumer: Consumer | null = null;

before(async () => {
  kafka = createKafka({ brokers, clientId: `it-${run}` });
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [topic, input], 1);
  producer = kafka.producer(transactionalProducerOptions(`it-${run}-tx`, 60_000));
  await producer.connect();
});

after(async () => {
  await consumer?.disconnect();
  await producer?.disconnect();
  await admin?.deleteTopics({ topics: [topic, input] }).catch(() => undefined);
  await admin?.disconnect();
});

test('a transaction of 2.4 MB of writes to one partition commits, every record once and in order', async () => {
  const tracker = new CommitTracker();
  const out = createTransactionalOutput({ producer, groupId: `it-${run}-g`, tracker, backoff: { initialMs: 50, maxMs: 200 } });
  // 600 writes of 4 KB, queued before one flush: what a burst of late audio records queues.
  const n = 600;
  const value = (i: number) => Buffer.concat([Buffer.from(`${String(i).padStart(6, '0')}:`), Buffer.alloc(4096, i % 251)]);
  const written = Array.from({ length: n }, (_, i) => out.write(topic, [{ key: 's1', value: value(i) }]));
  await out.commitNow();
  await Promise.all(written);
  assert.equal(out.transactions.committed, 1, 'one transaction');
  assert.equal(out.transactions.aborted, 0, 'none aborted');

  consumer = kafka.consumer({ groupId: `it-${run}-read`, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: string[] = [];
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.subarray(0, 6).toString()) });
  const deadline = Date.now() + 60_000;
  while (seen.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(
    seen,
    Array.from({ length: n }, (_, i) => String(i).padStart(6, '0')),
    'every record committed once, in order',
  );
  await out.stop();
});
