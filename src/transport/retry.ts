/**
 * Retrying what the Kafka client gave up on, for as long as it takes: an outage of any length is
 * waited out with exponential backoff (capped), and only an abort or an error that retrying
 * cannot fix (e.g. a record the broker refuses as too large) ends the loop.
 *
 * @example
 * await retryUntilDone(() => producer.send(batch), {
 *   what: 'send scores', backoff: { initialMs: 250, maxMs: 5000 }, retriable: isRetriableKafkaError,
 *   onRetry: (err, n, waitMs) => health.problem('producer', String(err)), signal,
 * });
 */

export interface Backoff {
  /** First wait, ms. */
  initialMs: number;
  /** Longest wait, ms: the delay doubles from `initialMs` up to this. */
  maxMs: number;
}

export interface RetryOptions {
  /** What is being retried, for the abort error. */
  what: string;
  backoff: Backoff;
  /** Whether an error is worth another try; others are thrown at once. */
  retriable: (err: unknown) => boolean;
  /** Called after each failed try that will be retried, with the try number (1-based) and the wait. */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
  /** Stops waiting: the loop rejects with an `AbortError`. */
  signal?: AbortSignal;
}

export class RetryAbortedError extends Error {
  override name = 'RetryAbortedError';
  constructor(what: string, cause: unknown) {
    super(`${what}: given up because the caller stopped (last error: ${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
}

/** The wait before try `attempt + 1` (attempt >= 1): initialMs * 2^(attempt-1), capped at maxMs, with +-20% jitter. */
export function backoffMs(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(30, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Resolves after `ms`, or at once when `signal` aborts (with false then). */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `fn` until it resolves, waiting between retriable failures; see {@link RetryOptions}. */
export async function retryUntilDone<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!options.retriable(err)) throw err;
      if (options.signal?.aborted) throw new RetryAbortedError(options.what, err);
      const waitMs = backoffMs(options.backoff, attempt);
      options.onRetry?.(err, attempt, waitMs);
      if (!(await sleep(waitMs, options.signal))) throw new RetryAbortedError(options.what, err);
    }
  }
}
