/**
 * A flush run every `intervalMs` once started, and on demand, one run at a time (the offset
 * committer, the transactional output). A failed periodic run goes to `onFailure` and the next one
 * catches up; `stop()` stops the timer and runs a final flush, whose failure it rejects with.
 */
export interface PeriodicFlush<T> {
  /** Starts the periodic runs (again after `stop()`; a second call while running does nothing). */
  start(): void;
  /** Runs the flush now (after any run in flight); resolves with what it returned. */
  commitNow(): Promise<T>;
  /** Stops the timer and runs the flush once more. */
  stop(): Promise<T>;
}

export function periodicFlush<T>(flush: () => Promise<T>, intervalMs: number, onFailure: (err: unknown) => void): PeriodicFlush<T> {
  let timer: ReturnType<typeof setInterval> | undefined;
  let chain: Promise<unknown> = Promise.resolve();

  function commitNow(): Promise<T> {
    const run = chain.then(flush);
    chain = run.catch(() => undefined);
    return run;
  }

  return {
    start() {
      if (timer) return;
      timer = setInterval(() => {
        commitNow().catch(onFailure);
      }, intervalMs);
      timer.unref();
    },
    commitNow,
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      return commitNow();
    },
  };
}
