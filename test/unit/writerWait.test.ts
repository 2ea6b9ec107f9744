import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writerWait } from '../../src/pipeline/writerWait.js';

/** A lookup that resolves when the test says so. */
function deferred(): { promise: Promise<string | null>; resolve: (reason: string | null) => void } {
  let resolve!: (reason: string | null) => void;
  const promise = new Promise<string | null>((r) => (resolve = r));
  return { promise, resolve };
}

test('records after one that waits for its writer schema keep their order; an unreadable one is handed over with the reason', async () => {
  const out: string[] = [];
  let completed = false;
  const lookups = new Map<string, ReturnType<typeof deferred>>();
  const gate = writerWait<string>({
    lookup: (item) => {
      if (!item.startsWith('new')) return null;
      const d = deferred();
      lookups.set(item, d);
      return d.promise;
    },
    ready: (item) => out.push(item),
    unreadable: (item, reason) => out.push(`${item}!${reason}`),
    completed: () => (completed = true),
  });
  gate.next('a');
  gate.next('new1');
  gate.next('b');
  gate.next('new2');
  gate.next('c');
  gate.complete();
  assert.deepEqual(out, ['a'], 'everything after the first unknown id waits');
  assert.equal(completed, false, 'the input ended, but records still wait');
  lookups.get('new1')!.resolve(null);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(out, ['a', 'new1', 'b'], 'then the next unknown id holds the rest');
  lookups.get('new2')!.resolve('404 not found');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(out, ['a', 'new1', 'b', 'new2!404 not found', 'c']);
  assert.equal(completed, true);
});

test('offline (no lookup needed) everything goes straight through and completes at once', () => {
  const out: number[] = [];
  let completed = false;
  const gate = writerWait<number>({ lookup: () => null, ready: (n) => out.push(n), unreadable: () => assert.fail(), completed: () => (completed = true) });
  for (let i = 0; i < 5; i++) gate.next(i);
  gate.complete();
  assert.deepEqual(out, [0, 1, 2, 3, 4]);
  assert.equal(completed, true);
});
