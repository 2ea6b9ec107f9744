/**
 * The exactly-once output's bookkeeping (transport/kafka/transactional.ts) and the changelog
 * state store (pipeline/scoreState.ts), with a recording stand-in for kafkajs's transaction (the
 * real broker path runs in test/integration/restart.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from 'kafkajs';
import { CommitTracker } from '../../src/transport/commitTracker.js';
import { createTransactionalOutput } from '../../src/transport/kafka/transactional.js';
import { createScoreStateStore, decodeScoreState } from '../../src/pipeline/scoreState.js';

const at = (offset: number, partition = 0, topic = 'audio') => ({ topic, partition, offset: String(offset) });

interface Tx {
  messages: Array<{ topic: string; messages: Message[] }>;
  offsets: unknown[];
  outcome: 'open' | 'committed' | 'aborted';
}

function recordingProducer(failCommit: () => Error | null = () => null) {
  const txs: Tx[] = [];
  return {
    txs,
    transaction: async () => {
      const tx: Tx = { messages: [], offsets: [], outcome: 'open' };
      txs.push(tx);
      return {
        sendBatch: async ({ topicMessages }: { topicMessages: Array<{ topic: string; messages: Message[] }> }) => {
          tx.messages.push(...topicMessages);
          return [];
        },
        sendOffsets: async ({ topics }: { topics: unknown[] }) => {
          tx.offsets.push(...topics);
        },
        commit: async () => {
          const err = failCommit();
          if (err) throw err;
          tx.outcome = 'committed';
        },
        abort: async () => {
          tx.outcome = 'aborted';
        },
      };
    },
  };
}

test('a flush settles its writes before reading the offsets: outputs and the offsets behind them commit together', async () => {
  const tracker = new CommitTracker();
  const producer = recordingProducer();
  const out = createTransactionalOutput({ producer: producer as never, groupId: 'g', tracker, backoff: { initialMs: 1, maxMs: 1 } });
  tracker.track(at(0));
  tracker.track(at(1));
  tracker.joined(at(0), 1);
  tracker.joined(at(1), 1);
  // The score of the window holding offset 0 is queued; offset 1's window is still open.
  const written = out.write('scores', [{ key: 's', value: Buffer.from('x') }], () => tracker.windowDone([at(0)]));
  assert.deepEqual(tracker.committable(), [at(0)], 'nothing settled before the flush takes the write');
  await out.commitNow();
  await written;
  assert.equal(producer.txs.length, 1);
  assert.equal(producer.txs[0]!.outcome, 'committed');
  assert.deepEqual(producer.txs[0]!.messages, [{ topic: 'scores', messages: [{ key: 's', value: Buffer.from('x') }] }]);
  assert.deepEqual(producer.txs[0]!.offsets, [{ topic: 'audio', partitions: [{ partition: 0, offset: '1' }] }], 'offset 1 is next: 0 is done');
  // Nothing new: no transaction.
  await out.commitNow();
  assert.equal(producer.txs.length, 1);
  // Offsets that moved without output still commit (a record settled at once).
  tracker.windowDone([at(1)]);
  await out.commitNow();
  assert.deepEqual(producer.txs[1]!.messages, []);
  assert.deepEqual(producer.txs[1]!.offsets, [{ topic: 'audio', partitions: [{ partition: 0, offset: '2' }] }]);
});

test('a failed transaction is aborted and tried again with the same writes; a lasting failure stops all further commits', async () => {
  const tracker = new CommitTracker();
  let failures = 1;
  const retriable = Object.assign(new Error('CONCURRENT_TRANSACTIONS'), { retriable: true });
  const producer = recordingProducer(() => (failures-- > 0 ? retriable : null));
  const out = createTransactionalOutput({ producer: producer as never, groupId: 'g', tracker, backoff: { initialMs: 1, maxMs: 1 } });
  tracker.track(at(0));
  const written = out.write('scores', [{ key: 's', value: Buffer.from('x') }], () => tracker.settled(at(0)));
  await out.commitNow();
  await written;
  assert.deepEqual(
    producer.txs.map((t) => t.outcome),
    ['aborted', 'committed'],
  );
  assert.deepEqual(producer.txs[0]!.messages, producer.txs[1]!.messages);
  assert.equal(out.transactions.aborted, 1);

  const fenced = recordingProducer(() => new Error('PRODUCER_FENCED'));
  const out2 = createTransactionalOutput({ producer: fenced as never, groupId: 'g', tracker: new CommitTracker(), backoff: { initialMs: 1, maxMs: 1 } });
  const lost = out2.write('scores', [{ key: 's', value: null }]);
  await assert.rejects(out2.commitNow(), /PRODUCER_FENCED/);
  await assert.rejects(lost, /PRODUCER_FENCED/);
  // Records settled for the lost writes must never be committed by a later flush.
  await assert.rejects(out2.stop(), /PRODUCER_FENCED/);
  await assert.rejects(out2.write('scores', []), /PRODUCER_FENCED/);
  assert.equal(fenced.txs.filter((t) => t.outcome === 'committed').length, 0);
});

test('after a failed commit the next try starts from a new producer (same transactional id); one that keeps being fenced fails for good', async () => {
  const tracker = new CommitTracker();
  const expired = Object.assign(new Error('old epoch'), { type: 'INVALID_PRODUCER_EPOCH' });
  const first = recordingProducer(() => expired);
  const made: Array<ReturnType<typeof recordingProducer>> = [];
  const fresh = () => {
    const p = recordingProducer();
    made.push(p);
    return { ...p, connect: async () => undefined, disconnect: async () => undefined };
  };
  const out = createTransactionalOutput({
    producer: first as never,
    createProducer: fresh as never,
    groupId: 'g',
    tracker,
    backoff: { initialMs: 1, maxMs: 1 },
  });
  tracker.track(at(0));
  const written = out.write('scores', [{ key: 's', value: Buffer.from('x') }], () => tracker.settled(at(0)));
  await out.commitNow();
  await written;
  assert.equal(out.transactions.renewed, 1);
  assert.equal(made.length, 1);
  assert.equal(made[0]!.txs[0]!.outcome, 'committed');
  assert.deepEqual(made[0]!.txs[0]!.offsets, [{ topic: 'audio', partitions: [{ partition: 0, offset: '1' }] }]);

  const fenced = Object.assign(new Error('fenced'), { type: 'PRODUCER_FENCED' });
  const alwaysFenced = () => ({ ...recordingProducer(() => fenced), connect: async () => undefined, disconnect: async () => undefined });
  const out2 = createTransactionalOutput({
    producer: recordingProducer(() => fenced) as never,
    createProducer: alwaysFenced as never,
    groupId: 'g',
    tracker: new CommitTracker(),
    backoff: { initialMs: 1, maxMs: 1 },
  });
  const lost = out2.write('scores', [{ key: 's', value: null }]);
  await assert.rejects(out2.commitNow(), /fenced/);
  await assert.rejects(lost, /fenced/);
  assert.ok(out2.transactions.renewed >= 1);
});

test('score state: written with each score, restored, marked ended, and tombstoned only once its records are committed', () => {
  const store = createScoreStateStore();
  const state = { lastWindowEnd: 6000, ema: 0.5, recent: [], next: 0, sum: 0 };
  const m = store.scored('s1', 2, state, [at(10, 2, 'audio'), at(4, 2, 'transcript')]);
  assert.equal(m.partition, 2);
  assert.equal(m.key, 's1');
  const written = decodeScoreState(m.value as Buffer, 's1');
  assert.equal(written.lastWindowEnd, 6000);
  assert.deepEqual(written.after, { audio: '11', transcript: '5' });

  // Another instance restores it.
  const other = createScoreStateStore();
  other.load([{ partition: 2, key: 's1', value: m.value as Buffer }]);
  assert.equal(other.get('s1')?.lastWindowEnd, 6000);
  other.load([{ partition: 2, key: 's1', value: null }]);
  assert.equal(other.get('s1'), undefined, 'a tombstone deletes it');

  const ended = store.ended('s1')!;
  assert.equal(decodeScoreState(ended.value as Buffer, 's1').ended, true);
  assert.equal(store.get('s1')?.ended, true, 'kept while its records may be re-read');
  assert.deepEqual(store.tombstones({ 'audio/2': '11', 'transcript/2': '4' }), [], 'transcript offset 4 not committed yet');
  assert.deepEqual(store.tombstones({ 'audio/2': '11', 'transcript/2': '5' }), [{ key: 's1', value: null, partition: 2 }]);
  assert.equal(store.get('s1'), undefined);
  assert.throws(() => decodeScoreState(Buffer.from('{"v":1,"lastWindowEnd":"x"}'), 's2'), /session s2 is not a score state/);
});
