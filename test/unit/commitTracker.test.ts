import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitTracker } from '../../src/transport/commitTracker.js';
import type { SourcePosition } from '../../src/transport/types.js';

const at = (offset: number, partition = 0, topic = 'audio'): SourcePosition => ({ topic, partition, offset: String(offset) });
const commitOf = (t: CommitTracker, partition = 0, topic = 'audio') => t.committable().find((c) => c.topic === topic && c.partition === partition)?.offset;

test('nothing tracked: nothing to commit', () => {
  assert.deepEqual(new CommitTracker().committable(), []);
});

test('in-order completion advances one by one', () => {
  const t = new CommitTracker();
  for (const o of [10, 11, 12]) t.track(at(o));
  assert.equal(commitOf(t), '10', 'nothing done: commit the first pending offset (a no-op)');
  t.joined(at(10), 1);
  t.windowDone([at(10)]);
  assert.equal(commitOf(t), '11');
  t.joined(at(11), 0);
  t.joined(at(12), 0);
  assert.equal(commitOf(t), '13');
  assert.deepEqual(t.stats, { tracked: 3, done: 3, ignored: 0, pending: 0 });
});

test('out-of-order completion never passes a pending record', () => {
  const t = new CommitTracker();
  for (const o of [0, 1, 2, 3, 4]) t.track(at(o));
  for (const o of [0, 1, 2, 3, 4]) t.joined(at(o), 2);
  // Records 2..4 finish first.
  t.windowDone([at(2), at(3), at(4)]);
  t.windowDone([at(2), at(3), at(4)]);
  assert.equal(commitOf(t), '0');
  t.windowDone([at(0), at(1)]);
  assert.equal(commitOf(t), '0', 'record 0 still has one window to go');
  t.windowDone([at(0)]);
  assert.equal(commitOf(t), '1');
  t.windowDone([at(1)]);
  assert.equal(commitOf(t), '5', 'all done: the offset after the last');
});

test('refcounts: a record is done only when every window holding it is scored', () => {
  const t = new CommitTracker();
  t.track(at(7));
  t.joined(at(7), 6);
  for (let i = 0; i < 5; i++) t.windowDone([at(7)]);
  assert.equal(commitOf(t), '7');
  t.windowDone([at(7)]);
  assert.equal(commitOf(t), '8');
});

test('a window reported before the join is counted', () => {
  const t = new CommitTracker();
  t.track(at(1));
  t.windowDone([at(1)]);
  assert.equal(commitOf(t), '1', 'not joined yet: still pending');
  t.joined(at(1), 2);
  assert.equal(commitOf(t), '1');
  t.windowDone([at(1)]);
  assert.equal(commitOf(t), '2');
});

test('gaps in offsets (compaction, transaction markers) are skipped', () => {
  const t = new CommitTracker();
  for (const o of [5, 6, 9, 20]) t.track(at(o));
  t.settled(at(5));
  t.settled(at(6));
  assert.equal(commitOf(t), '9', 'the first pending record, not 7');
  t.settled(at(20));
  assert.equal(commitOf(t), '9');
  t.settled(at(9));
  assert.equal(commitOf(t), '21');
});

test("offsets after a batch's last message (a trailing transaction marker) are passed once the records before are done", () => {
  const t = new CommitTracker();
  t.track(at(3));
  t.passed({ topic: 'audio', partition: 0 }, '4'); // offset 4: the marker of the transaction that wrote 3
  assert.equal(commitOf(t), '3', 'record 3 still pending');
  t.settled(at(3));
  assert.equal(commitOf(t), '5', 'past the marker: the partition is not left one behind its end');
  assert.equal(t.track(at(4)), false, 'an offset passed is never tracked again');
  t.passed({ topic: 'audio', partition: 1 }, '0'); // a batch of markers only
  assert.equal(commitOf(t, 1), '1');
  t.passed({ topic: 'audio', partition: 0 }, '2'); // an older batch again changes nothing
  assert.equal(commitOf(t), '5');
});

test('dead-lettered and late records (joined with 0 windows) are done at once', () => {
  const t = new CommitTracker();
  t.track(at(0));
  t.track(at(1));
  t.track(at(2));
  t.joined(at(0), 1);
  t.joined(at(1), 0); // dead-lettered
  t.settled(at(2)); // late topic
  assert.equal(commitOf(t), '0');
  t.windowDone([at(0)]);
  assert.equal(commitOf(t), '3');
});

test('partitions are independent', () => {
  const t = new CommitTracker();
  t.track(at(100, 0));
  t.track(at(50, 1));
  t.track(at(3, 0, 'video'));
  t.settled(at(50, 1));
  assert.equal(commitOf(t, 0), '100');
  assert.equal(commitOf(t, 1), '51');
  assert.equal(commitOf(t, 0, 'video'), '3');
  assert.equal(t.committable().length, 3);
});

test('revocation drops the partition; later signals for it are ignored', () => {
  const t = new CommitTracker();
  t.track(at(0, 0));
  t.track(at(0, 1));
  t.joined(at(0, 0), 1);
  t.joined(at(0, 1), 1);
  const dropped = t.retain([{ topic: 'audio', partition: 1 }]);
  assert.deepEqual(dropped, [{ topic: 'audio', partition: 0 }]);
  assert.equal(t.stats.pending, 1);
  t.windowDone([at(0, 0), at(0, 1)]);
  assert.deepEqual(t.committable(), [{ topic: 'audio', partition: 1, offset: '1' }]);
  assert.equal(t.stats.ignored, 1);
  // Reassigned later: starts afresh from whatever the consumer reads.
  t.track(at(40, 0));
  assert.equal(commitOf(t, 0), '40');
  assert.deepEqual(
    t.revoke([
      { topic: 'audio', partition: 1 },
      { topic: 'audio', partition: 9 },
    ]),
    [{ topic: 'audio', partition: 1 }],
  );
});

test('replays, repeated joins and unknown positions are ignored', () => {
  const t = new CommitTracker();
  t.track(at(5));
  assert.equal(t.track(at(5)), false, 'same offset again');
  assert.equal(t.track(at(4)), false, 'lower offset');
  t.joined(at(5), 2);
  t.joined(at(5), 0); // a second join must not settle the record
  t.windowDone([at(5)]);
  assert.equal(commitOf(t), '5');
  t.joined(undefined, 1); // not from Kafka
  t.windowDone([at(99)]);
  t.windowDone([at(5)]);
  assert.equal(commitOf(t), '6');
  t.windowDone([at(5)]); // already done
  assert.equal(t.stats.ignored, 5);
  assert.throws(() => t.joined(at(5), -1), /windows must be a non-negative integer, got -1/);
});

test('offsets beyond 2^53 are handled exactly', () => {
  const t = new CommitTracker();
  t.track({ topic: 'a', partition: 0, offset: '9007199254740993' });
  t.settled({ topic: 'a', partition: 0, offset: '9007199254740993' });
  assert.equal(commitOf(t, 0, 'a'), '9007199254740994');
});

test('a long run stays correct and compact', () => {
  const t = new CommitTracker();
  const n = 10_000;
  for (let o = 0; o < n; o++) t.track(at(o));
  for (let o = 0; o < n; o++) t.joined(at(o), 1);
  // Finish in reverse order, except record 0.
  for (let o = n - 1; o >= 1; o--) t.windowDone([at(o)]);
  assert.equal(commitOf(t), '0');
  t.windowDone([at(0)]);
  assert.equal(commitOf(t), String(n));
  assert.equal(t.stats.pending, 0);
});

test('randomised: committable is always the first offset not done', () => {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const t = new CommitTracker();
  const offsets: number[] = [];
  for (let o = 0; o < 500; o += 1 + Math.floor(rand() * 3)) offsets.push(o);
  const refs = new Map<number, number>();
  for (const o of offsets) {
    t.track(at(o));
    const n = Math.floor(rand() * 4);
    t.joined(at(o), n);
    refs.set(o, n);
  }
  const open = () => offsets.filter((o) => refs.get(o)! > 0);
  while (open().length) {
    const candidates = open();
    const o = candidates[Math.floor(rand() * candidates.length)]!;
    t.windowDone([at(o)]);
    refs.set(o, refs.get(o)! - 1);
    const firstPending = open()[0];
    assert.equal(commitOf(t), firstPending === undefined ? String(offsets.at(-1)! + 1) : String(firstPending));
  }
});
