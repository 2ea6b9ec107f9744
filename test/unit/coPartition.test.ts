import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignCoPartitioned, commonPartitionCount, PartitionCountMismatchError } from '../../src/transport/coPartition.js';
import { loadConfig } from '../../src/config/config.js';

describe('co-partitioned assignment', () => {
  it('gives partition p of every topic to the same member, spread over the members', () => {
    const a = assignCoPartitioned(['m-b', 'm-a', 'm-c'], { audio: 4, video: 4, transcript: 4 });
    assert.deepEqual(a, {
      'm-a': { audio: [0, 3], video: [0, 3], transcript: [0, 3] },
      'm-b': { audio: [1], video: [1], transcript: [1] },
      'm-c': { audio: [2], video: [2], transcript: [2] },
    });
  });

  it('is the same whatever order the members come in; members beyond the partitions get nothing', () => {
    const counts = { audio: 2, video: 2, transcript: 2 };
    assert.deepEqual(assignCoPartitioned(['x', 'y', 'z'], counts), assignCoPartitioned(['z', 'x', 'y'], counts));
    assert.deepEqual(assignCoPartitioned(['x', 'y', 'z'], counts).z, {});
  });

  it('refuses topics with different partition counts, naming each topic and its count', () => {
    assert.throws(
      () => commonPartitionCount({ audio: 4, video: 2, transcript: 4 }),
      (e: unknown) => e instanceof PartitionCountMismatchError && /same number of partitions.*audio: 4, video: 2, transcript: 4/.test(e.message),
    );
    assert.throws(() => assignCoPartitioned(['m'], { audio: 3, video: 4 }), PartitionCountMismatchError);
    assert.equal(commonPartitionCount({ audio: 6, video: 6 }), 6);
  });
});

describe('consumer group timing settings', () => {
  it('default to an 8 s session timeout with 1 s heartbeats, and refuse a heartbeat over a third of it', () => {
    const { kafka } = loadConfig({ overrides: {} });
    assert.equal(kafka.sessionTimeoutMs, 8000);
    assert.equal(kafka.heartbeatIntervalMs, 1000);
    assert.throws(
      () => loadConfig({ overrides: { kafka: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 3000 } } }),
      /heartbeatIntervalMs.*at most a third.*6000.*3000/,
    );
    assert.throws(() => loadConfig({ overrides: { kafka: { sessionTimeoutMs: 1000 } } }), /sessionTimeoutMs/);
  });
});
