/**
 * `keepSessionOrder`: runs async work on some items with bounded concurrency and emits every item,
 * worked on or not, in its session's input order.
 */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { InOrder, type Reservation } from './inOrder.js';

export interface KeepSessionOrderOptions<T> {
  sessionOf: (item: T) => string;
  /** The async work an item needs, or null when it needs none (it then passes at once, unless earlier items of its session are still worked on). */
  workFor: (item: T) => (() => Promise<void>) | null;
  /** Work run at once (default 1). */
  concurrency?: number;
  /** Items waiting for or in work; an item beyond this passes without its work (`onShed`), so latency stays bounded (default 64). */
  maxQueued?: number;
  onShed?: (item: T) => void;
  /** The work failed: the item still passes, without what the work would have given it. */
  onError?: (item: T, err: unknown) => void;
}

export interface KeepSessionOrderState {
  /** Items waiting for or in work. */
  queued: number;
  running: number;
  /** Items held back behind work in progress (all of them, worked on or not). */
  held: number;
}

/**
 * Emits each item once its work (if any) finished and every earlier item of the same session has
 * been emitted; items of other sessions never wait for it. Work starts in arrival order, at most
 * `concurrency` at a time. Completes when the source completed and all work finished; a source
 * error is passed on at once (work in progress is abandoned, its items not emitted). Memory: the
 * items waiting for work are bounded by `maxQueued`; the items held behind them are bounded by
 * whatever bounds the source (in the pipeline, the Kafka source's unreleased records).
 *
 * @example
 * frames$.pipe(keepSessionOrder({ sessionOf: (r) => r.sessionId, workFor: (r) => (r.kind === 'video' ? () => analyse(r) : null), concurrency: 2 }))
 */
export function keepSessionOrder<T>(options: KeepSessionOrderOptions<T>, state?: KeepSessionOrderState): MonoTypeOperatorFunction<T> {
  const concurrency = options.concurrency ?? 1;
  const maxQueued = options.maxQueued ?? 64;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`keepSessionOrder: concurrency ${concurrency} must be an integer >= 1`);
  if (!Number.isInteger(maxQueued) || maxQueued < 1) throw new RangeError(`keepSessionOrder: maxQueued ${maxQueued} must be an integer >= 1`);
  return (source) =>
    new Observable<T>((subscriber) => {
      const counts = state ?? { queued: 0, running: 0, held: 0 };
      const bySession = new Map<string, InOrder<T>>();
      const waiting: Array<{ item: T; slot: Reservation<T>; session: string; work: () => Promise<void> }> = [];
      let sourceDone = false;
      let closed = false;

      const drain = (session: string) => {
        const queue = bySession.get(session);
        if (!queue) return;
        for (const item of queue.ready()) {
          if (closed) return;
          counts.held--;
          subscriber.next(item);
        }
        if (queue.size === 0) bySession.delete(session);
      };
      const maybeComplete = () => {
        if (sourceDone && bySession.size === 0 && !closed) subscriber.complete();
      };
      const pump = () => {
        while (counts.running < concurrency && waiting.length > 0) {
          const { item, slot, session, work } = waiting.shift()!;
          counts.running++;
          const finish = () => {
            counts.running--;
            counts.queued--;
            bySession.get(session)?.complete(slot, item);
            if (closed) return;
            drain(session);
            pump();
            maybeComplete();
          };
          let started: Promise<void>;
          try {
            started = work();
          } catch (err) {
            started = Promise.reject(err);
          }
          started.then(finish, (err: unknown) => {
            if (!closed) options.onError?.(item, err);
            finish();
          });
        }
      };

      const subscription = source.subscribe({
        next: (item) => {
          const session = options.sessionOf(item);
          let work = options.workFor(item);
          if (work && counts.queued >= maxQueued) {
            options.onShed?.(item);
            work = null;
          }
          const queue = bySession.get(session);
          if (!work && !queue) {
            subscriber.next(item);
            return;
          }
          counts.held++;
          const order = queue ?? new InOrder<T>();
          if (!queue) bySession.set(session, order);
          if (work) {
            counts.queued++;
            waiting.push({ item, slot: order.reserve(), session, work });
            pump();
          } else {
            order.push(item);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          maybeComplete();
        },
      });
      return () => {
        closed = true;
        subscription.unsubscribe();
        // Work in progress finishes on its own; its items are dropped with the subscription.
        counts.queued -= waiting.length;
        counts.held = 0;
        waiting.length = 0;
      };
    });
}
