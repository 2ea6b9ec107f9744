/** src/arrays.ts runPerKey: what the speech stage and transcribeSignals use to give each recogniser its own items of a shared batch. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPerKey } from '../../src/arrays.js';

test('runPerKey: one run per key, in first-seen order, each with its items in order; results back in the items order', async () => {
  const calls: [string, number[]][] = [];
  const items = [1, 2, 3, 4, 5, 6].map((n) => ({ n, key: n % 3 === 0 ? 'tel' : 'wide' }));
  const out = await runPerKey(
    items,
    (i) => i.key,
    async (key, group) => {
      calls.push([key, group.map((g) => g.n)]);
      return group.map((g) => `${key}:${g.n}`);
    },
  );
  assert.deepEqual(calls, [
    ['wide', [1, 2, 4, 5]],
    ['tel', [3, 6]],
  ]);
  assert.deepEqual(out, ['wide:1', 'wide:2', 'tel:3', 'wide:4', 'wide:5', 'tel:6']);
  assert.deepEqual(
    await runPerKey(
      [],
      () => 'x',
      async () => assert.fail('no run for no items'),
    ),
    [],
  );
});
