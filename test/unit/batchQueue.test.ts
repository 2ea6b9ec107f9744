/**
 * BatchQueue, the speech and voice stages' queue to their model: batches of at most maxBatch in
 * queue order, one at a time; jobs beyond maxQueued refused and counted; a session's waiting jobs
 * removed; `settled` waits for the matching jobs, `idle` for the batch running; a failed run goes
 * to onError and the jobs still waiting stay for the next kick. The "model" here doubles numbers;
 * each test decides when a batch finishes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchQueue } from '../../src/operators/batchQueue.js';

interface Job {
  session: string;
  x: number;
}

/** A queue whose batches finish when the test says (`finish()`), or fail (`fail(err)`). */
function harness(maxBatch: number, maxQueued: number) {
  const runs: number[][] = [];
  const results: [string, number][] = [];
  const errors: unknown[] = [];
  const gates: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  const q = new BatchQueue<Job, number>({
    maxBatch,
    maxQueued,
    run: async (jobs) => {
      runs.push(jobs.map((j) => j.x));
      await new Promise<void>((resolve, reject) => gates.push({ resolve, reject }));
      return jobs.map((j) => 2 * j.x);
    },
    done: (jobs, out) => jobs.forEach((j, i) => results.push([j.session, out[i]!])),
    onError: (err) => errors.push(err),
  });
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    q,
    runs,
    results,
    errors,
    finish: async () => {
      gates.shift()!.resolve();
      await turn();
    },
    fail: async (err: unknown) => {
      gates.shift()!.reject(err);
      await turn();
    },
    turn,
  };
}

test('runs batches of at most maxBatch, one at a time, in queue order; counts batches and run time', async () => {
  const h = harness(2, 10);
  for (const x of [1, 2, 3]) assert.equal(h.q.offer({ session: 'a', x }), true);
  assert.equal(h.q.busy, true);
  h.q.kick();
  assert.deepEqual(h.runs, [[1, 2]]);
  assert.equal(h.q.length, 1, 'the running batch does not count as waiting');
  h.q.offer({ session: 'b', x: 4 });
  h.q.kick(); // already working: no second batch at once
  assert.deepEqual(h.runs, [[1, 2]]);
  await h.finish();
  assert.deepEqual(h.runs, [
    [1, 2],
    [3, 4],
  ]);
  await h.finish();
  assert.deepEqual(h.results, [
    ['a', 2],
    ['a', 4],
    ['a', 6],
    ['b', 8],
  ]);
  assert.equal(h.q.batches, 2);
  assert.ok(h.q.runSeconds > 0);
  assert.equal(h.q.busy, false);
});

test('refuses jobs beyond maxQueued waiting and counts them in shed', async () => {
  const h = harness(1, 2);
  h.q.offer({ session: 'a', x: 1 });
  h.q.kick(); // 1 runs: nothing waits
  assert.equal(h.q.offer({ session: 'a', x: 2 }), true);
  assert.equal(h.q.offer({ session: 'a', x: 3 }), true);
  assert.equal(h.q.offer({ session: 'a', x: 4 }), false);
  assert.equal(h.q.shed, 1);
  assert.equal(h.q.length, 2);
  await h.finish();
  await h.finish();
  await h.finish();
  assert.deepEqual(
    h.results.map(([, y]) => y),
    [2, 4, 6],
  );
});

test('remove drops a session’s waiting jobs; settled waits for the matching jobs and the batch running', async () => {
  const h = harness(1, 10);
  for (const [session, x] of [
    ['a', 1],
    ['b', 2],
    ['a', 3],
    ['b', 4],
  ] as const)
    h.q.offer({ session, x });
  h.q.kick(); // a1 runs
  h.q.remove((j) => j.session === 'b');
  assert.equal(h.q.length, 1);
  let settled = false;
  void h.q.settled((j) => j.session === 'a').then(() => (settled = true));
  await h.finish(); // a1 done, a3 runs
  assert.equal(settled, false);
  await h.finish();
  await h.turn();
  assert.equal(settled, true);
  assert.deepEqual(h.results, [
    ['a', 2],
    ['a', 6],
  ]);
});

test('a failed run goes to onError; idle resolves; the jobs still waiting run at the next kick', async () => {
  const h = harness(1, 10);
  h.q.offer({ session: 'a', x: 1 });
  h.q.offer({ session: 'a', x: 2 });
  h.q.kick();
  const idle = h.q.idle();
  await h.fail(new Error('model broke'));
  await idle;
  assert.equal((h.errors[0] as Error).message, 'model broke');
  assert.equal(h.q.length, 1);
  assert.equal(h.q.batches, 0);
  h.q.kick();
  await h.finish();
  assert.deepEqual(h.results, [['a', 4]]);
});

test('settled after a failed run: the matching jobs left waiting get a worker, and the event loop is not starved meanwhile', async () => {
  const h = harness(1, 10);
  h.q.offer({ session: 'a', x: 1 });
  h.q.offer({ session: 'a', x: 2 });
  h.q.kick();
  await h.fail(new Error('model broke'));
  assert.equal(h.q.length, 1, 'one job left waiting, no worker');
  let settled = false;
  void h.q.settled((j) => j.session === 'a').then(() => (settled = true));
  // A timer must still fire: a settled() spinning on resolved promises would never let it.
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(settled, false, 'the waiting job runs first');
  await h.finish();
  assert.equal(settled, true);
  assert.deepEqual(h.results, [['a', 4]]);
});
