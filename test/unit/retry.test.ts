import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, retryUntilDone, RetryAbortedError } from '../../src/transport/retry.js';
import { createTransportHealth } from '../../src/transport/health.js';
import { isRetriableKafkaError } from '../../src/transport/kafka/client.js';

const backoff = { initialMs: 1, maxMs: 4 };

test('a retriable failure is tried again until it succeeds; each retry is reported', async () => {
  let calls = 0;
  const retries: number[] = [];
  const r = await retryUntilDone(
    async () => {
      if (++calls < 5) throw new Error('connect ECONNREFUSED 127.0.0.1:9');
      return 'sent';
    },
    { what: 'send', backoff, retriable: isRetriableKafkaError, onRetry: (_e, n) => retries.push(n) },
  );
  assert.equal(r, 'sent');
  assert.deepEqual(retries, [1, 2, 3, 4]);
});

test('an error retrying cannot fix is thrown at once', async () => {
  let calls = 0;
  const tooLarge = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { retriable: false });
  await assert.rejects(
    retryUntilDone(
      async () => {
        calls++;
        throw tooLarge;
      },
      { what: 'send', backoff, retriable: isRetriableKafkaError },
    ),
    /larger than the max message size/,
  );
  assert.equal(calls, 1);
});

test('kafkajs wrappers are judged by their cause', () => {
  const cause = Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError', retriable: true });
  const wrapped = Object.assign(new Error('wrapped'), { name: 'KafkaJSNonRetriableError', retriable: false, cause });
  assert.equal(isRetriableKafkaError(wrapped), true);
  assert.equal(isRetriableKafkaError(new Error('Invalid record')), false);
});

test('an abort ends the waiting with RetryAbortedError', async () => {
  const abort = new AbortController();
  const p = retryUntilDone(() => Promise.reject(new Error('ECONNREFUSED')), {
    what: 'send',
    backoff: { initialMs: 50, maxMs: 50 },
    retriable: () => true,
    signal: abort.signal,
  });
  setTimeout(() => abort.abort(), 20);
  await assert.rejects(p, RetryAbortedError);
});

test('backoff doubles up to maxMs (with +-20% jitter)', () => {
  const mid = () => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 10].map((n) => backoffMs({ initialMs: 300, maxMs: 5000 }, n, mid)),
    [300, 600, 1200, 2400, 4800, 5000],
  );
});

test('health: degraded while any part has a problem, with the first time it failed', () => {
  let t = 1000;
  const h = createTransportHealth(() => t);
  const changes: boolean[] = [];
  h.onChange((d) => changes.push(d));
  h.problem('producer', 'refused');
  t = 2000;
  h.problem('producer', 'refused again');
  h.problem('consumer', 'crashed');
  assert.equal(h.degraded, true);
  assert.deepEqual(h.problems(), [
    { part: 'producer', reason: 'refused again', since: 1000 },
    { part: 'consumer', reason: 'crashed', since: 2000 },
  ]);
  h.ok('producer');
  assert.equal(h.degraded, true);
  t = 5000;
  h.ok('consumer');
  assert.equal(h.degraded, false);
  assert.deepEqual(changes, [true, false]);
  assert.equal(h.outages, 1);
  assert.equal(h.degradedMs, 4000);
});
