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
  /** The metadata its offsets carried: the transaction's id. */
  ids: Set<string>;
  outcome: 'open' | 'committed' | 'aborted';
}

function recordingProducer(failCommit: () => Error | null = () => null) {
  const txs: Tx[] = [];
  return {
    txs,
    transaction: async () => {
      const tx: Tx = { messages: [], offsets: [], ids: new Set(), outcome: 'open' };
      txs.push(tx);
      return {
        sendBatch: async ({ topicMessages }: { topicMessages: Array<{ topic: string; messages: Message[] }> }) => {
          tx.messages.push(...topicMessages);
          return [];
        },
        sendOffsets: async ({ topics }: { topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string; metadata?: string }> }> }) => {
          // The transaction's id rides in each offset's metadata (kept apart, compared where a test needs it).
          for (const t of topics) {
            for (const p of t.partitions) tx.ids.add(p.metadata ?? '');
            tx.offsets.push({ topic: t.topic, partitions: t.partitions.map(({ partition, offset }) => ({ partition, offset })) });
          }
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

/** `createProducer` for the output: each new producer records its transactions in `made`. */
function freshProducers() {
  const made: Array<ReturnType<typeof recordingProducer>> = [];
  const fresh = () => {
    const p = recordingProducer();
    made.push(p);
    return { ...p, connect: async () => undefined, disconnect: async () => undefined };
  };
  return { made, fresh };
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
  const { made, fresh } = freshProducers();
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

test('a commit in doubt (no answer) is settled by the offset metadata: committed ones are not sent again, aborted ones are', async () => {
  for (const committedAtBroker of [true, false]) {
    const tracker = new CommitTracker();
    // The first commit's answer is lost: the broker may or may not have committed it.
    let answered = false;
    const first = recordingProducer(() => (answered ? null : ((answered = true), Object.assign(new Error('Connection closed'), { retriable: true }))));
    const { made, fresh } = freshProducers();
    const asked: unknown[] = [];
    const out = createTransactionalOutput({
      producer: first as never,
      createProducer: fresh as never,
      groupId: 'g',
      tracker,
      backoff: { initialMs: 1, maxMs: 1 },
      committedMetadata: async (tp) => {
        asked.push(tp);
        // What the group's committed offset says once the new producer finished the old transaction.
        return committedAtBroker ? [...first.txs[0]!.ids][0]! : 'an-older-transaction';
      },
    });
    tracker.track(at(0));
    tracker.track(at(1));
    const written = out.write('scores', [{ key: 's', value: Buffer.from('x') }], () => tracker.settled(at(0)));
    await out.commitNow();
    await written;
    assert.deepEqual(asked, [{ topic: 'audio', partition: 0 }], 'asked about the partition that carried its id');
    assert.equal(out.transactions.inDoubt, 1);
    const resent = made.flatMap((p) => p.txs).filter((t) => t.outcome === 'committed');
    if (committedAtBroker) {
      assert.equal(resent.length, 0, 'committed at the broker: the writes are not sent a second time');
      assert.equal(out.transactions.inDoubtCommitted, 1);
    } else {
      assert.equal(resent.length, 1, 'aborted at the broker: the writes are sent again');
      assert.deepEqual(resent[0]!.messages, first.txs[0]!.messages);
    }
  }
});

test('writes with no offset that moved still carry the transaction id on one unchanged offset (the marker)', async () => {
  const tracker = new CommitTracker();
  const producer = recordingProducer();
  const out = createTransactionalOutput({ producer: producer as never, groupId: 'g', tracker, backoff: { initialMs: 1, maxMs: 1 } });
  tracker.track(at(0));
  tracker.joined(at(0), 2);
  tracker.windowDone([at(0)]);
  await out.commitNow(); // offset 0 still pending: commits 0
  const written = out.write('scores', [{ key: 's', value: Buffer.from('y') }]);
  await out.commitNow();
  await written;
  assert.equal(producer.txs.length, 2);
  assert.deepEqual(producer.txs[1]!.offsets, [{ topic: 'audio', partitions: [{ partition: 0, offset: '0' }] }], 'the unchanged offset again');
  assert.equal(producer.txs[1]!.ids.size, 1);
  assert.notDeepEqual([...producer.txs[1]!.ids], [...producer.txs[0]!.ids], 'each transaction its own id');
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
