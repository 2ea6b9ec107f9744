// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * Co-partitioned scaling against the real broker: several pipeline instances in one consumer
 * group. Partition p of audio, video and transcript goes to one instance, so every window is built
 * from all of its session's records: every score holds the records and modalities it should.
 * Three instances at once, and 1 -> 3 -> 1 with sessions before, during and after.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin } from 'kafkajs';
import { silentLogger } from '../../src/log.js';
import { connectPipelineTransport, ensureTopics } from '../../src/transport/kafka/index.js';
import { topicNames } from '../../src/transport/topics.js';
import { startService, type Service } from '../../src/pipeline/service.js';
import { startHarness, waitFor, brokers, type Harness, type Score } from '../fixtures/pipelineHarness.js';
import { expectedScores, makeSessions, scoreProblems, waitForGroup } from '../fixtures/coSessions.js';

const T0 = 1_760_000_000_000;
let h: Harness;
let admin: Admin;
const extra: Service[] = [];

async function addInstance(): Promise<Service> {
  const s = await startService({ config: h.config, brokers, logger: silentLogger, sample: null });
  extra.push(s);
  return s;
}

before(async () => {
  const run = Math.random().toString(36).slice(2, 10);
  h = await startHarness({
    kafka: { brokers, topicPrefix: `it-scale-${run}.`, groupId: `it-scale-${run}`, partitions: 4, commitIntervalMs: 200 },
    windows: { sizeMs: 6000, hopMs: 1000, allowedLatenessMs: 500 },
  });
  admin = h.kafka.admin();
  await admin.connect();
});

after(async () => {
  await Promise.all(extra.map((s) => s.stop().catch(() => undefined)));
  await admin?.disconnect();
  await h?.close();
});

async function scoresFor(expected: Map<string, unknown>, reader: Awaited<ReturnType<Harness['readTopic']>>): Promise<Score[]> {
  const keys = new Set(expected.keys());
  const mine = () => (reader.items as Array<{ value: Score }>).map((i) => i.value).filter((s) => keys.has(`${s.sessionId}@${s.windowEnd}`));
  await waitFor(`${keys.size} windows scored`, () => new Set(mine().map((s) => `${s.sessionId}@${s.windowEnd}`)).size >= keys.size, 120_000);
  assert.equal(await h.waitCommitted(60_000), 0, 'every input record committed');
  await reader.caughtUp();
  return mine();
}

test('three instances: each session is read whole by one instance; every score has all its records and modalities', async () => {
  await addInstance();
  await addInstance();
  await waitForGroup(admin, h.config.kafka.groupId, 3);
  const { groups } = await admin.describeGroups([h.config.kafka.groupId]);
  const reader = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  try {
    const records = makeSessions('three', 20, T0);
    const expected = expectedScores(records);
    await h.produce(records);
    const scores = await scoresFor(expected, reader);
    const problems = scoreProblems(scores, expected);
    assert.deepEqual(problems.wrong, [], 'every score built from all of its records');
    assert.deepEqual(problems.missing, []);
    // Every instance did some of the work.
    const all = [h.service, ...extra];
    assert.ok(
      all.every((s) => s.pipeline.stats().scores > 0),
      `scores per instance: ${all.map((s) => s.pipeline.stats().scores).join(', ')} (group ${JSON.stringify(groups[0]?.members.length)})`,
    );
  } finally {
    await reader.close();
    await Promise.all(extra.splice(0).map((s) => s.stop()));
  }
});

test('1 -> 3 -> 1 instances: sessions before, between and after the changes are scored whole', async () => {
  await waitForGroup(admin, h.config.kafka.groupId, 1);
  const reader = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  try {
    const phases = [makeSessions('one', 8, T0 + 100_000), makeSessions('three-b', 8, T0 + 200_000), makeSessions('back-to-one', 8, T0 + 300_000)];
    const check = async (records: (typeof phases)[number], what: string) => {
      const expected = expectedScores(records);
      await h.produce(records);
      const problems = scoreProblems(await scoresFor(expected, reader), expected);
      assert.deepEqual(problems.wrong, [], `${what}: every score built from all of its records`);
      assert.deepEqual(problems.missing, [], `${what}: every window scored`);
    };
    await check(phases[0]!, 'one instance');
    await addInstance();
    await addInstance();
    await waitForGroup(admin, h.config.kafka.groupId, 3);
    await check(phases[1]!, 'three instances');
    await Promise.all(extra.splice(0).map((s) => s.stop()));
    await waitForGroup(admin, h.config.kafka.groupId, 1);
    await check(phases[2]!, 'back to one');
  } finally {
    await reader.close();
  }
});

test('input topics with different partition counts are refused at start, naming the topics and counts', async () => {
  const prefix = `it-mismatch-${Math.random().toString(36).slice(2, 8)}.`;
  const names = topicNames({ prefix });
  await ensureTopics(admin, [names.audio, names.transcript], 4);
  await ensureTopics(admin, [names.video], 2);
  await assert.rejects(
    connectPipelineTransport({ brokers, kafka: { ...h.config.kafka, topicPrefix: prefix, groupId: `${prefix}g` }, limits: h.config.limits }),
    (e: Error) => e.name === 'PartitionCountMismatchError' && e.message.includes(`${names.audio}: 4`) && e.message.includes(`${names.video}: 2`),
  );
});
