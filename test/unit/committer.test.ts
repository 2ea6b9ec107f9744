import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitTracker } from '../../src/transport/commitTracker.js';
import { createCommitter } from '../../src/transport/kafka/committer.js';
import type { TopicPartitionOffset } from '../../src/transport/types.js';

const at = (offset: number, partition = 0) => ({ topic: 'audio', partition, offset: String(offset) });

/** Lets pending promise callbacks run (no timer involved). */
const settle = () => new Promise((r) => setImmediate(r));

function fakeConsumer(fail = () => false) {
  const calls: TopicPartitionOffset[][] = [];
  return {
    calls,
    commitOffsets: async (offsets: TopicPartitionOffset[]) => {
      await new Promise((r) => setImmediate(r));
      if (fail()) throw new Error('REBALANCE_IN_PROGRESS');
      calls.push(offsets);
    },
  };
}

test('commits only partitions whose commit point moved', async () => {
  const tracker = new CommitTracker();
  const consumer = fakeConsumer();
  const committer = createCommitter({ consumer, tracker });
  tracker.track(at(0, 0));
  tracker.track(at(0, 1));
  tracker.settled(at(0, 0));
  assert.deepEqual(await committer.commitNow(), [at(1, 0), at(0, 1)]);
  tracker.settled(at(0, 1));
  assert.deepEqual(await committer.commitNow(), [at(1, 1)]);
  assert.deepEqual(await committer.commitNow(), []);
  assert.equal(consumer.calls.length, 2);
  assert.deepEqual(committer.stats.committed, { 'audio/0': '1', 'audio/1': '1' });
});

test('commits never overlap, and each one sends the latest commit point', async () => {
  const tracker = new CommitTracker();
  let inFlight = 0;
  let maxInFlight = 0;
  const calls: TopicPartitionOffset[][] = [];
  // Each commit waits until the test lets it finish: the broker's answer comes when we say so.
  const answers: Array<() => void> = [];
  const consumer = {
    commitOffsets: async (offsets: TopicPartitionOffset[]) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise<void>((r) => answers.push(r));
      calls.push(offsets);
      inFlight--;
    },
  };
  const committer = createCommitter({ consumer, tracker });
  tracker.track(at(0));
  tracker.track(at(1));
  tracker.settled(at(0));
  const first = committer.commitNow();
  await settle();
  assert.equal(answers.length, 1, 'the first commit is in flight');
  tracker.settled(at(1));
  const second = committer.commitNow();
  await settle();
  assert.equal(answers.length, 1, 'the second waits for the first');
  answers.shift()!();
  await first;
  await settle();
  answers.shift()!();
  assert.deepEqual(await first, [at(1)]);
  assert.deepEqual(await second, [at(2)]);
  assert.deepEqual(calls, [[at(1)], [at(2)]]);
  assert.equal(maxInFlight, 1);
});

test('a failed commit is counted and retried by the next one; stop() makes the final commit', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] }); // virtual time for the periodic commits
  const tracker = new CommitTracker();
  let failing = true;
  const consumer = fakeConsumer(() => failing);
  const committer = createCommitter({ consumer, tracker, intervalMs: 10 });
  tracker.track(at(5));
  tracker.settled(at(5));
  await assert.rejects(committer.commitNow(), /REBALANCE_IN_PROGRESS/);
  assert.equal(committer.stats.commitErrors, 1);
  failing = false;
  committer.start();
  assert.deepEqual(consumer.calls, [], 'nothing before the first interval');
  t.mock.timers.tick(10);
  for (let i = 0; i < 10 && consumer.calls.length === 0; i++) await settle();
  t.mock.timers.tick(10);
  for (let i = 0; i < 10; i++) await settle();
  assert.deepEqual(consumer.calls, [[at(6)]], 'the periodic commit caught up once, and only sends what moved');
  tracker.track(at(6));
  tracker.settled(at(6));
  assert.deepEqual(await committer.stop(), [at(7)]);
});

test('revoked partitions are not committed', async () => {
  const tracker = new CommitTracker();
  const consumer = fakeConsumer();
  const committer = createCommitter({ consumer, tracker });
  tracker.track(at(0, 0));
  tracker.track(at(0, 1));
  tracker.settled(at(0, 0));
  tracker.settled(at(0, 1));
  tracker.revoke([{ topic: 'audio', partition: 1 }]);
  assert.deepEqual(await committer.commitNow(), [at(1, 0)]);
});
