import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { catchError, from, lastValueFrom, map, of, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { microBatch, type MicroBatchInfo } from '../../src/operators/microBatch.js';

// Virtual time: 1 frame = 1 ms. A group "(AB)" emits together, and its characters still advance
// the frame count, hence the odd-looking gaps after groups below.
const scheduler = () => new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));

const upper = (items: string[]) => items.map((s) => s.toUpperCase());
const errorText = (e: unknown) => of(e instanceof Error ? `${e.name}: ${e.message}` : String(e));

describe('microBatch', () => {
  it('flushes a batch as soon as it is full', () => {
    scheduler().run(({ cold, expectObservable, flush }) => {
      const batches: string[][] = [];
      const run = (items: string[]) => {
        batches.push(items);
        return cold('10ms (r|)', { r: upper(items) });
      };
      const source = cold('abcd|');
      // [a,b] leaves at 1 (full) and returns at 11; [c,d] waits for the only slot, leaves at 11, returns at 21.
      expectObservable(source.pipe(microBatch({ maxBatchSize: 2, maxQueueDelayMs: 50 }, run))).toBe('11ms (AB) 6ms (CD|)', {
        A: 'A',
        B: 'B',
        C: 'C',
        D: 'D',
      });
      flush();
      assert.deepStrictEqual(batches, [
        ['a', 'b'],
        ['c', 'd'],
      ]);
    });
  });

  it('flushes a partial batch when its oldest value has waited maxQueueDelayMs', () => {
    scheduler().run(({ cold, expectObservable, flush }) => {
      const infos: MicroBatchInfo[] = [];
      const source = cold('a-b 17ms c 19ms |'); // a@0 b@2 c@20 complete@40
      const result = source.pipe(
        microBatch({ maxBatchSize: 10, maxQueueDelayMs: 5, onBatch: (i) => infos.push(i) }, (items: string[]) => cold('1ms (r|)', { r: upper(items) })),
      );
      // [a,b] leaves at 5 (a waited 5 ms) and returns at 6; [c] leaves at 25, returns at 26.
      expectObservable(result).toBe('6ms (AB) 16ms C 13ms |', { A: 'A', B: 'B', C: 'C' });
      flush();
      assert.deepStrictEqual(
        infos.map(({ size, reason, waitedMs, runMs }) => ({ size, reason, waitedMs, runMs })),
        [
          { size: 2, reason: 'delay', waitedMs: 5, runMs: 1 },
          { size: 1, reason: 'delay', waitedMs: 5, runMs: 1 },
        ],
      );
    });
  });

  it('keeps source order when concurrent batches finish out of order', () => {
    scheduler().run(({ cold, expectObservable, flush }) => {
      const finished: string[] = [];
      const run = (items: string[]) =>
        // the first batch is slow, the second fast: without ordering C, D would come out first
        cold(items.includes('a') ? '20ms (r|)' : '2ms (r|)', { r: upper(items) });
      const source = cold('abcd|');
      const result = source.pipe(
        microBatch({ maxBatchSize: 2, maxQueueDelayMs: 50, maxInFlight: 2, onBatch: (i) => finished.push(`${i.size}@${i.runMs}`) }, run),
      );
      // [a,b] leaves at 1 and returns at 21; [c,d] leaves at 3, returns at 5 and is held until 21.
      expectObservable(result).toBe('21ms (ABCD|)', { A: 'A', B: 'B', C: 'C', D: 'D' });
      flush();
      assert.deepStrictEqual(finished, ['2@2', '2@20'], 'the second batch really finished first');
    });
  });

  it('keeps order under random arrivals, batch times and concurrency', () => {
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * n);
    };
    scheduler().run(({ cold, flush }) => {
      const n = 300;
      const marbles = Array.from({ length: n }, () => `${random(3)}ms x`).join(' ') + ' |';
      const source = cold(marbles).pipe(map((_, i) => i));
      let got: number[] = [];
      const sizes = new Set<number>();
      source
        .pipe(
          microBatch({ maxBatchSize: 7, maxQueueDelayMs: 4, maxInFlight: 3, onBatch: (i) => sizes.add(i.size) }, (items: number[]) =>
            cold(`${1 + random(30)}ms (r|)`, { r: items.map((v) => v * 10) }),
          ),
          toArray(),
        )
        .subscribe((all) => (got = all));
      flush();
      assert.deepStrictEqual(
        got,
        Array.from({ length: n }, (_, i) => i * 10),
      );
      assert.ok(sizes.size > 3, `batches of several sizes were run (${[...sizes].join(', ')})`);
    });
  });

  it('flushes the tail when the source completes', () => {
    scheduler().run(({ cold, expectObservable, flush }) => {
      const reasons: string[] = [];
      const source = cold('abc|');
      const result = source.pipe(
        microBatch({ maxBatchSize: 10, maxQueueDelayMs: 100, onBatch: (i) => reasons.push(i.reason) }, (items: string[]) =>
          cold('1ms (r|)', { r: upper(items) }),
        ),
      );
      // complete at 3 flushes [a,b,c] without waiting the 100 ms; results at 4, then complete
      expectObservable(result).toBe('4ms (ABC|)', { A: 'A', B: 'B', C: 'C' });
      flush();
      assert.deepStrictEqual(reasons, ['complete']);
    });
  });

  it('with maxQueueDelayMs 0 sends values at once and batches what piles up behind a busy slot', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold('abc 10ms |'); // a@0 b@1 c@2 complete@13
      // each result is the size of the batch it ran in
      const result = source.pipe(
        microBatch({ maxBatchSize: 8, maxQueueDelayMs: 0 }, (items: string[]) => cold('3ms (r|)', { r: items.map(() => String(items.length)) })),
      );
      // [a] leaves at once (0 -> 3); b and c queue behind it and leave together at 3 (-> 6)
      expectObservable(result).toBe('3ms x 2ms (yy) 3ms |', { x: '1', y: '2' });
    });
  });

  it('errors with MicroBatchRunError when a run fails, after the results before it', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold('a---b---|');
      const run = (items: string[]) => (items[0] === 'b' ? cold<string[]>('-#', undefined, new Error('boom')) : cold('-(r|)', { r: upper(items) }));
      const result = source.pipe(microBatch({ maxBatchSize: 1, maxQueueDelayMs: 0 }, run), catchError(errorText));
      expectObservable(result).toBe('-A---(E|)', { A: 'A', E: 'MicroBatchRunError: micro-batch 1 (1 items): run failed: boom' });
    });
  });

  it('errors when run throws or returns the wrong number of results', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const throwing = cold('a|').pipe(
        microBatch({ maxBatchSize: 1, maxQueueDelayMs: 0 }, (): Observable<string[]> => {
          throw new Error('bad input');
        }),
        catchError(errorText),
      );
      expectObservable(throwing).toBe('(E|)', { E: 'MicroBatchRunError: micro-batch 0 (1 items): run threw: bad input' });
      const short = cold('ab|').pipe(
        microBatch({ maxBatchSize: 2, maxQueueDelayMs: 10 }, () => cold('1ms (r|)', { r: ['only one'] })),
        catchError(errorText),
      );
      expectObservable(short).toBe('2ms (E|)', { E: 'MicroBatchRunError: micro-batch 0 (2 items): run returned 1 results; expected one per item' });
    });
  });

  it('forwards a source error as is', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const broke = new Error('source broke');
      const result = cold('a-#', undefined, broke).pipe(
        microBatch({ maxBatchSize: 4, maxQueueDelayMs: 10 }, (items: string[]) => cold('5ms (r|)', { r: upper(items) })),
      );
      expectObservable(result).toBe('--#', undefined, broke);
    });
  });

  it('signals pressure, then errors with MicroBatchOverflowError when maxQueued is exceeded', () => {
    scheduler().run(({ cold, expectObservable, flush }) => {
      const pressure: string[] = [];
      const source = cold('abcdef|');
      const result = source.pipe(
        microBatch({ maxBatchSize: 1, maxQueueDelayMs: 0, maxQueued: 4, onPressure: (p) => pressure.push(p ? 'pause' : 'resume') }, (items: string[]) =>
          cold('10ms (r|)', { r: upper(items) }),
        ),
        catchError(errorText),
      );
      // a runs from 0; b..e queue up (pause at 2 waiting); f finds 4 waiting and overflows at 5
      expectObservable(result).toBe('5ms (E|)', {
        E:
          'MicroBatchOverflowError: micro-batch queue overflow: 4 items waiting (maxQueued 4), 1 batches running; the model cannot keep up. ' +
          'Pause the source on onPressure(true), or raise maxBatchSize, maxInFlight or maxQueued',
      });
      flush();
      assert.deepStrictEqual(pressure, ['pause']);
    });
  });

  it('resumes the source once the queue drains to maxQueued / 4', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const pressure: string[] = [];
      const source = cold('abc|');
      const result = source.pipe(
        microBatch(
          { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueued: 4, onPressure: (p) => pressure.push(`${p ? 'pause' : 'resume'}@${ts.now()}`) },
          (items: string[]) => cold('5ms (r|)', { r: upper(items) }),
        ),
      );
      // a: 0-5, b: 5-10, c: 10-15; c arriving at 2 makes 2 waiting (pause); b leaving at 5 leaves 1 (resume)
      expectObservable(result).toBe('5ms A 4ms B 4ms (C|)', { A: 'A', B: 'B', C: 'C' });
      flush();
      assert.deepStrictEqual(pressure, ['pause@2', 'resume@5']);
    });
  });

  it('asks for a pause at pauseAt waiting, well before maxQueued, and a resume at pauseAt / 2', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const pressure: string[] = [];
      const source = cold('abcdef|');
      const result = source.pipe(
        microBatch(
          { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueued: 100, pauseAt: 4, onPressure: (p) => pressure.push(`${p ? 'pause' : 'resume'}@${ts.now()}`) },
          (items: string[]) => cold('5ms (r|)', { r: upper(items) }),
        ),
      );
      // a runs at 0; b..e wait (4 at 4 ms: pause); f waits too; resume once 2 are left (c leaves at 15)
      expectObservable(result).toBe('5ms A 4ms B 4ms C 4ms D 4ms E 4ms (F|)', { A: 'A', B: 'B', C: 'C', D: 'D', E: 'E', F: 'F' });
      flush();
      assert.deepStrictEqual(pressure, ['pause@4', 'resume@15']);
    });
  });

  it('unsubscribes from running batches and the timer on unsubscribe', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('ab 20ms |');
      const running = cold('10ms (r|)', { r: ['A'] });
      // a runs from 0; b waits for the slot; unsubscribing at 3 ends the source and the run
      const result = source.pipe(microBatch({ maxBatchSize: 1, maxQueueDelayMs: 5 }, () => running));
      expectObservable(result, '---!').toBe('');
      expectSubscriptions(source.subscriptions).toBe('^--!');
      expectSubscriptions(running.subscriptions).toBe('^--!');
    });
  });

  it('works with a Promise-returning run', async () => {
    const sizes: number[] = [];
    const out = await lastValueFrom(
      from(Array.from({ length: 25 }, (_, i) => i)).pipe(
        // a long delay: batches here are cut by size and completion only, not by the wall clock
        microBatch({ maxBatchSize: 8, maxQueueDelayMs: 1000, maxInFlight: 2 }, async (xs: number[]) => {
          sizes.push(xs.length);
          await new Promise((r) => setTimeout(r, 1));
          return xs.map((x) => x * 2);
        }),
        toArray(),
      ),
    );
    assert.deepStrictEqual(
      out,
      Array.from({ length: 25 }, (_, i) => i * 2),
    );
    assert.deepStrictEqual(sizes, [8, 8, 8, 1]);
  });

  it('refuses a nonsensical configuration', () => {
    const run = async (xs: number[]) => xs;
    assert.throws(() => microBatch({ maxBatchSize: 0, maxQueueDelayMs: 1 }, run), /maxBatchSize must be a positive integer, got 0/);
    assert.throws(() => microBatch({ maxBatchSize: 4, maxQueueDelayMs: -1 }, run), /maxQueueDelayMs must be a finite number >= 0, got -1/);
    assert.throws(() => microBatch({ maxBatchSize: 4, maxQueueDelayMs: 1, maxQueued: 2 }, run), /maxQueued \(2\) must be at least maxBatchSize \(4\)/);
  });
});
