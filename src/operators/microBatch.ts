import { asyncScheduler, Observable, Subscription, from, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { InOrder } from './inOrder.js';

/**
 * Collects source values into batches, runs each batch through `run`, and emits one result per
 * value, in the order the values arrived.
 *
 * Timing (all times from `scheduler.now()`; asyncScheduler's is Date.now(), so delays hold to
 * within its 1 ms resolution):
 * - A batch is taken from the front of the queue as soon as a run slot is free (fewer than
 *   `maxInFlight` batches running) and either the queue holds `maxBatchSize` values ("full"), or
 *   the oldest queued value has waited `maxQueueDelayMs` ("delay"), or the source has completed
 *   ("complete"). So a value waits at most `maxQueueDelayMs` while a slot is free; with all slots
 *   busy, values keep queueing and the next free slot takes up to `maxBatchSize` of them at once
 *   (the Triton dynamic-batching idea: the busier the model, the bigger the batches).
 *   `maxQueueDelayMs: 0` never waits for company.
 * - Order: results are emitted in source order, whatever order the batches finish in. A batch
 *   that finishes early is held until every earlier batch has been emitted.
 * - Completion: when the source completes, the queue is flushed (in batches of at most
 *   `maxBatchSize`) and the output completes after the last result.
 *
 * Bounds: Rx cannot slow a push source, so the bound is enforced in two steps. With `onPressure`,
 * the operator calls `onPressure(true)` when `pauseAt` (default `maxQueued / 2`) values are
 * waiting (an upstream that can pause, such as a Kafka consumer, should) and `onPressure(false)`
 * once the queue is back to `pauseAt / 2`. If the queue still reaches `maxQueued`, the output errors with a
 * `MicroBatchOverflowError`: memory stays bounded, and the failure is loud rather than a slow leak.
 *
 * Errors: a batch whose `run` fails (throws, rejects, errors, completes without a value, or returns
 * the wrong number of results) is not retried (an in-process model fails the same way twice) and
 * the output errors with a `MicroBatchRunError` holding the cause. Results of earlier batches still
 * running are dropped, so what was emitted is always an in-order prefix: a caller committing
 * offsets only for emitted results loses nothing. A source error is forwarded as is; queued values
 * are dropped.
 *
 * Unsubscribing cancels the timer and unsubscribes from running batches (a Promise cannot be
 * cancelled; its result is ignored).
 *
 * @example
 * windows$.pipe(
 *   microBatch({ maxBatchSize: 32, maxQueueDelayMs: 5, maxInFlight: 2 }, (ws) => session.run(ws.map(toModelInput))),
 * ) // emits one ModelOutput per window, in window order
 */
export function microBatch<T, R>(
  config: MicroBatchConfig,
  run: (items: T[]) => PromiseLike<readonly R[]> | Observable<readonly R[]>,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, R> {
  const { maxBatchSize, maxQueueDelayMs, maxInFlight = 1, maxQueued = 16 * maxBatchSize, onPressure, onBatch } = config;
  checkConfig(maxBatchSize, maxQueueDelayMs, maxInFlight, maxQueued);
  const pauseAt = config.pauseAt ?? Math.ceil(maxQueued / 2);
  const resumeAt = Math.floor(pauseAt / 2);
  if (!Number.isSafeInteger(pauseAt) || pauseAt < 1 || pauseAt > maxQueued) {
    throw new RangeError(`microBatch: pauseAt must be an integer in 1..maxQueued (${maxQueued}), got ${pauseAt}`);
  }

  return (source) =>
    new Observable<R>((destination) => {
      const queue: { item: T; at: number }[] = [];
      const order = new InOrder<readonly R[]>(); // batches in dispatch order, finished or running
      const running = new Map<number, Subscription>();
      let inFlight = 0;
      let nextBatch = 0;
      let sourceDone = false;
      let closed = false;
      let paused = false;
      let timer: Subscription | null = null;
      let timerAt = Infinity;
      let draining = false;
      let drainAgain = false;

      const fail = (err: unknown) => {
        if (closed) return;
        closed = true;
        destination.error(err);
      };

      const emitInOrder = () => {
        for (const results of order.ready()) {
          for (const r of results) {
            if (closed) return;
            destination.next(r);
          }
        }
      };

      const dispatch = (reason: MicroBatchInfo['reason']) => {
        const entries = queue.splice(0, maxBatchSize);
        const items = entries.map((e) => e.item);
        const seq = nextBatch++;
        const slot = order.reserve();
        const startedAt = scheduler.now();
        const waitedMs = startedAt - (entries[0]?.at ?? startedAt);
        inFlight++;
        let settled = false;
        const settle = () => {
          settled = true;
          inFlight--;
          running.get(seq)?.unsubscribe();
          running.delete(seq);
        };
        const runError = (message: string, cause?: unknown) =>
          new MicroBatchRunError(`micro-batch ${seq} (${items.length} items): ${message}`, seq, items.length, cause);

        let output: Observable<readonly R[]>;
        try {
          output = from(run(items));
        } catch (err) {
          settle();
          fail(runError(`run threw: ${describe(err)}`, err));
          return;
        }
        const sub = output.subscribe({
          next: (results) => {
            if (settled) return;
            settle();
            if (results.length !== items.length) {
              fail(runError(`run returned ${results.length} results; expected one per item`));
              return;
            }
            order.complete(slot, results);
            onBatch?.({ size: items.length, reason, waitedMs, runMs: scheduler.now() - startedAt, queued: queue.length });
            emitInOrder();
            drain();
          },
          error: (err: unknown) => {
            if (settled) return;
            settle();
            fail(runError(`run failed: ${describe(err)}`, err));
          },
          complete: () => {
            if (settled) return;
            settle();
            fail(runError('run completed without results'));
          },
        });
        if (settled) sub.unsubscribe();
        else running.set(seq, sub);
      };

      const readyReason = (): MicroBatchInfo['reason'] | null => {
        const oldest = queue[0];
        if (oldest === undefined) return null;
        if (queue.length >= maxBatchSize) return 'full';
        if (sourceDone) return 'complete';
        if (scheduler.now() - oldest.at >= maxQueueDelayMs) return 'delay';
        return null;
      };

      // Only armed while a slot is free: with every slot busy, the next finished batch drains.
      const armTimer = () => {
        const oldest = queue[0];
        const dueAt = oldest !== undefined && !sourceDone && inFlight < maxInFlight ? oldest.at + maxQueueDelayMs : Infinity;
        if (dueAt === timerAt) return;
        timer?.unsubscribe();
        timer = null;
        timerAt = dueAt;
        if (dueAt === Infinity) return;
        timer = scheduler.schedule(
          () => {
            timer = null;
            timerAt = Infinity;
            drain();
          },
          Math.max(0, dueAt - scheduler.now()),
        );
      };

      const updatePressure = () => {
        if (!onPressure) return;
        if (!paused && queue.length >= pauseAt) {
          paused = true;
          onPressure(true);
        } else if (paused && queue.length <= resumeAt) {
          paused = false;
          onPressure(false);
        }
      };

      // Re-entrant calls (a synchronous run finishing inside dispatch) just ask for another pass.
      function drain(): void {
        if (draining) {
          drainAgain = true;
          return;
        }
        draining = true;
        try {
          do {
            drainAgain = false;
            while (!closed && inFlight < maxInFlight) {
              const reason = readyReason();
              if (reason === null) break;
              dispatch(reason);
            }
          } while (drainAgain && !closed);
        } finally {
          draining = false;
        }
        if (closed) return;
        armTimer();
        updatePressure();
        if (sourceDone && queue.length === 0 && inFlight === 0 && order.size === 0) {
          closed = true;
          destination.complete();
        }
      }

      const upstream = source.subscribe({
        next: (item) => {
          if (closed) return;
          if (queue.length >= maxQueued) {
            fail(
              new MicroBatchOverflowError(
                `micro-batch queue overflow: ${queue.length} items waiting (maxQueued ${maxQueued}), ` +
                  `${inFlight} batches running; the model cannot keep up. Pause the source on onPressure(true), ` +
                  'or raise maxBatchSize, maxInFlight or maxQueued',
                queue.length,
              ),
            );
            return;
          }
          queue.push({ item, at: scheduler.now() });
          drain();
        },
        error: (err: unknown) => fail(err),
        complete: () => {
          sourceDone = true;
          drain();
        },
      });

      return () => {
        closed = true;
        upstream.unsubscribe();
        timer?.unsubscribe();
        timer = null;
        for (const sub of running.values()) sub.unsubscribe();
        running.clear();
        queue.length = 0;
        order.clear();
      };
    });
}

export interface MicroBatchConfig {
  /** Most values in one run. */
  maxBatchSize: number;
  /** Longest the oldest queued value waits for a batch to fill while a run slot is free. */
  maxQueueDelayMs: number;
  /** Batches running at once (default 1). Results stay in source order whatever this is. */
  maxInFlight?: number;
  /** Most values waiting; one more errors the output (default 16 * maxBatchSize). */
  maxQueued?: number;
  /** Values waiting at which `onPressure(true)` is called (default maxQueued / 2). */
  pauseAt?: number;
  /** Called with true at `pauseAt` waiting, with false once back to `pauseAt / 2`. */
  onPressure?: (paused: boolean) => void;
  /** Called for each finished batch (metrics). */
  onBatch?: (info: MicroBatchInfo) => void;
}

export interface MicroBatchInfo {
  size: number;
  /** Why the batch left the queue. */
  reason: 'full' | 'delay' | 'complete';
  /** How long its oldest value waited in the queue. */
  waitedMs: number;
  /** How long `run` took. */
  runMs: number;
  /** Values still waiting when it finished. */
  queued: number;
}

export class MicroBatchOverflowError extends Error {
  override readonly name = 'MicroBatchOverflowError';
  constructor(
    message: string,
    readonly queued: number,
  ) {
    super(message);
  }
}

export class MicroBatchRunError extends Error {
  override readonly name = 'MicroBatchRunError';
  constructor(
    message: string,
    readonly batch: number,
    readonly size: number,
    cause?: unknown,
  ) {
    super(message, { cause });
  }
}

function checkConfig(maxBatchSize: number, maxQueueDelayMs: number, maxInFlight: number, maxQueued: number): void {
  const positiveInt = (name: string, v: number) => {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`microBatch: ${name} must be a positive integer, got ${v}`);
  };
  positiveInt('maxBatchSize', maxBatchSize);
  positiveInt('maxInFlight', maxInFlight);
  positiveInt('maxQueued', maxQueued);
  if (!Number.isFinite(maxQueueDelayMs) || maxQueueDelayMs < 0) {
    throw new RangeError(`microBatch: maxQueueDelayMs must be a finite number >= 0, got ${maxQueueDelayMs}`);
  }
  if (maxQueued < maxBatchSize) throw new RangeError(`microBatch: maxQueued (${maxQueued}) must be at least maxBatchSize (${maxBatchSize})`);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
