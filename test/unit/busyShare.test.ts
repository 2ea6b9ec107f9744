/** BusyShare: the busy part of a sliding window, from reported intervals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BusyShare } from '../../src/speech/busyShare.js';

test('the share of the last window that was busy: overlaps counted, old spans forgotten', () => {
  const b = new BusyShare(10_000);
  assert.equal(b.share(0), 0);
  b.add(1000, 3000); // 2 s
  b.add(4000, 4500); // 0.5 s
  assert.equal(b.share(5000), 0.25);
  assert.equal(b.share(12_000), 0.15); // window [2000, 12000]: 1 s of the first span, 0.5 s of the second
  assert.equal(b.share(20_000), 0); // both outside
  b.add(15_000, 40_000); // longer than the window
  assert.equal(b.share(30_000), 1);
  b.add(5, 5); // empty spans are ignored
  assert.throws(() => new BusyShare(0), /windowMs must be positive, got 0/);
});
