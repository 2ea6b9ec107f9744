/**
 * `BatchQueue`: one bounded queue of jobs across sessions, run one batch at a time on a model (the
 * speech stage's recogniser, the voice stage's encoder).
 *
 * - `offer` queues a job unless `maxQueued` jobs already wait: then it is refused and counted in
 *   `shed` (the caller says why, naming the setting). The batch running does not count as waiting.
 * - `kick` starts the worker when it is idle: it takes up to `maxBatch` jobs from the front, awaits
 *   `run` on them, hands the jobs and results to `done` (synchronously, in queue order), and goes on
 *   while jobs wait. Each run's wall time is added to `runSeconds`; `batches` counts them.
 * - A failed `run` (or `done`) stops the worker and goes to `onError`; the jobs still waiting stay
 *   queued until the next `kick`.
 *
 * Imperative rather than an Rx operator (see microBatch.ts for that): the stages shed at their own
 * bound with their own log line, drop a session's jobs when its partition is revoked, and wait for a
 * session's jobs before its end-of-stream record.
 */
export interface BatchQueueOptions<J, R> {
  /** Jobs given to `run` at once. */
  maxBatch: number;
  /** Jobs waiting, at most; `offer` refuses more. */
  maxQueued: number;
  /** Runs one batch; one result per job, in order. */
  run: (jobs: J[]) => Promise<R[]>;
  /** The batch's jobs with their results (`results[i]` is `jobs[i]`'s; may be missing if `run` returned fewer). */
  done: (jobs: J[], results: R[]) => void;
  /** `run` or `done` failed. */
  onError: (err: unknown) => void;
}

export class BatchQueue<J, R> {
  private readonly queue: J[] = [];
  private working: Promise<void> | null = null;
  /** Batches run. */
  batches = 0;
  /** Wall seconds spent in `run`. */
  runSeconds = 0;
  /** Jobs refused by `offer` (the queue was full). */
  shed = 0;

  constructor(private readonly options: BatchQueueOptions<J, R>) {}

  /** Jobs waiting (not the batch running). */
  get length(): number {
    return this.queue.length;
  }

  /** A batch runs or jobs wait. */
  get busy(): boolean {
    return this.working !== null || this.queue.length > 0;
  }

  /** Queues the job (the caller kicks); false, counted in `shed`, when `maxQueued` jobs wait. */
  offer(job: J): boolean {
    if (this.queue.length >= this.options.maxQueued) {
      this.shed++;
      return false;
    }
    this.queue.push(job);
    return true;
  }

  /** Drops the waiting jobs that match (the batch running, if any, still finishes). */
  remove(match: (job: J) => boolean): void {
    for (let i = this.queue.length - 1; i >= 0; i--) if (match(this.queue[i]!)) this.queue.splice(i, 1);
  }

  /**
   * Resolves once no waiting job matches and no batch runs. Matching jobs left waiting with no
   * worker (a failed batch stopped it) get one: without it this loop would spin on resolved
   * promises and starve the event loop.
   */
  async settled(match: (job: J) => boolean): Promise<void> {
    for (;;) {
      if (!this.working && this.queue.some(match)) this.kick();
      if (!this.working) return;
      await this.working;
    }
  }

  /** Resolves once no batch runs (a failed one included). */
  async idle(): Promise<void> {
    while (this.working) await this.working.catch(() => undefined);
  }

  /** Starts the worker if it is idle and jobs wait. */
  kick(): void {
    if (this.working || this.queue.length === 0) return;
    const { maxBatch, run, done, onError } = this.options;
    this.working = (async () => {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, maxBatch);
        const started = performance.now();
        const results = await run(batch);
        this.runSeconds += (performance.now() - started) / 1000;
        this.batches++;
        done(batch, results);
      }
    })().then(
      () => {
        this.working = null;
        this.kick();
      },
      (err: unknown) => {
        this.working = null;
        onError(err);
      },
    );
  }
}
