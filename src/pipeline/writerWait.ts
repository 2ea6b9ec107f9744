/**
 * Decoding in order while some records wait for their writer's schema (Schema Registry): a record
 * whose schema id must first be fetched holds the records after it, which go on in their order
 * once it is resolved. Those waiting are still held by the Kafka source, whose buffer limits pause
 * fetching, so the wait is bounded. Offline (no registry) every record goes straight through.
 */
export interface WriterWaitOptions<T> {
  /** A promise of the lookup (null: readable now, or a reason it is not) when `item` must wait; null when it can be decoded now. */
  lookup(item: T): Promise<string | null> | null;
  /** Decode it. */
  ready(item: T): void;
  /** Its writer's schema cannot be had: dead-letter it with the reason. */
  unreadable(item: T, reason: string): void;
  /** The input ended and nothing waits. */
  completed(): void;
}

export function writerWait<T>(o: WriterWaitOptions<T>): { next(item: T): void; complete(): void } {
  const waiting: T[] = [];
  let resolving = false;
  let done = false;
  const next = (item: T): void => {
    if (resolving) {
      waiting.push(item);
      return;
    }
    const pending = o.lookup(item);
    if (!pending) return o.ready(item);
    resolving = true;
    void pending.then((reason) => {
      resolving = false;
      if (reason === null) o.ready(item);
      else o.unreadable(item, reason);
      while (!resolving && waiting.length > 0) next(waiting.shift()!);
      if (!resolving && done) o.completed();
    });
  };
  return {
    next,
    complete: () => {
      done = true;
      if (!resolving) o.completed();
    },
  };
}
