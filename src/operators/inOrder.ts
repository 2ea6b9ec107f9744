/**
 * Ordered completion: work is started in order, finishes in any order, and its results are let
 * out in the order it was started. What both `microBatch` (batches) and `keepSessionOrder`
 * (a session's records) need.
 *
 * @example
 * const order = new InOrder<string>();
 * const a = order.reserve(), b = order.reserve();
 * order.complete(b, 'b'); [...order.ready()]  // [] (a is still running)
 * order.complete(a, 'a'); [...order.ready()]  // ['a', 'b']
 */
export interface Reservation<T> {
  done: boolean;
  value: T | undefined;
}

export class InOrder<T> {
  private readonly queue: Reservation<T>[] = [];

  /** Holds a place for a result still to come. */
  reserve(): Reservation<T> {
    const slot: Reservation<T> = { done: false, value: undefined };
    this.queue.push(slot);
    return slot;
  }

  /** Holds a place for a result that is already there. */
  push(value: T): void {
    this.queue.push({ done: true, value });
  }

  /** The result for a reserved place. */
  complete(slot: Reservation<T>, value: T): void {
    slot.done = true;
    slot.value = value;
  }

  /** Takes out the results at the front whose work is done, in order. */
  *ready(): Generator<T> {
    while (this.queue.length > 0 && this.queue[0]!.done) yield this.queue.shift()!.value as T;
  }

  /** Places held, done or not. */
  get size(): number {
    return this.queue.length;
  }

  clear(): void {
    this.queue.length = 0;
  }
}
