/** The two output pipes of one ffmpeg, read at once with bounded queues (see `decodeAudioVideo`). */
import type { Readable } from 'node:stream';
import { MediaError } from './errors.js';

/** One output pipe of a two-output ffmpeg, and how to cut what comes out of it into items. */
export interface PipeSource<T> {
  name: string;
  pipe: Readable;
  parse(data: Buffer): T[];
  /** Items left when the pipe ends. */
  end(): T[];
  /** Media time of an item, seconds. */
  timeOf(item: T): number;
  /** Bytes an item holds. */
  sizeOf(item: T): number;
}

export interface PipeQueue<T> {
  source: PipeSource<T>;
  items: T[];
  bytes: number;
  ended: boolean;
  /** The consumer stopped reading: what comes is dropped, the pipe keeps flowing. */
  released: boolean;
  /** Set while the consumer waits for an item. */
  wake: (() => void) | null;
}

/**
 * The two output pipes of one ffmpeg, read at once into queues the consumer drains in its own
 * order (see `decodeAudioVideo` for the rules: pause past `maxAheadS` unless the consumer waits on
 * the other pipe, fail with `limit` past `maxQueueBytes`). `child.exited` tells, after a pipe
 * ended, whether ffmpeg succeeded; `child.stop` kills it (on failure, or once both are released).
 */
export class PairedPipes<A, B> {
  readonly a: PipeQueue<A>;
  readonly b: PipeQueue<B>;
  private failure: unknown = null;

  constructor(
    private readonly input: string,
    a: PipeSource<A>,
    b: PipeSource<B>,
    private readonly limits: { maxAheadS: number; maxQueueBytes: number },
    private readonly child: { exited: () => Promise<void>; stop: () => void },
  ) {
    this.a = this.attach(a);
    this.b = this.attach(b);
  }

  /** The items of one queue in order; throws the first failure, or ffmpeg's once the pipe ended. */
  async *read<T>(q: PipeQueue<T>): AsyncGenerator<T> {
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        const item = q.items.shift();
        if (item !== undefined) {
          q.bytes -= q.source.sizeOf(item);
          this.update();
          yield item;
        } else if (q.ended) {
          break;
        } else {
          await new Promise<void>((resolve) => {
            q.wake = resolve;
            this.update();
          });
        }
      }
      await this.child.exited().catch((e: unknown) => {
        throw this.failure ?? e;
      });
      if (this.failure) throw this.failure;
    } finally {
      q.released = true;
      q.items = [];
      q.bytes = 0;
      q.wake = null;
      this.update();
      if (this.a.released && this.b.released) this.child.stop();
    }
  }

  private attach<T>(source: PipeSource<T>): PipeQueue<T> {
    const q: PipeQueue<T> = { source, items: [], bytes: 0, ended: false, released: false, wake: null };
    source.pipe.on('data', (d: Buffer) => this.take(q, () => source.parse(d)));
    source.pipe.on('end', () => {
      this.take(q, () => source.end());
      q.ended = true;
      this.update();
    });
    source.pipe.on('error', (e: Error) =>
      this.fail(new MediaError(`cannot read the ${source.name} of ${this.input} from ffmpeg: ${e.message}`, 'failed', this.input)),
    );
    return q;
  }

  private take<T>(q: PipeQueue<T>, parse: () => T[]): void {
    if (q.released || this.failure) return;
    try {
      for (const item of parse()) {
        q.items.push(item);
        q.bytes += q.source.sizeOf(item);
      }
    } catch (e) {
      return this.fail(new MediaError(`cannot decode the ${q.source.name} of ${this.input}: ${(e as Error).message}`, 'failed', this.input));
    }
    this.update();
  }

  /** Holds or releases each pipe, fails past the hard limit, and wakes a reader that has an item. */
  private update(): void {
    const { maxAheadS, maxQueueBytes } = this.limits;
    for (const [q, other] of [
      [this.a, this.b],
      [this.b, this.a],
    ] as [PipeQueue<unknown>, PipeQueue<unknown>][]) {
      if (this.failure) return;
      if (q.bytes > maxQueueBytes) return this.fail(this.tooFarApart(q, other));
      const otherStarved = other.wake !== null && other.items.length === 0 && !other.ended;
      const full = queuedS(q) > maxAheadS || q.bytes > maxQueueBytes / 2;
      if (full && !q.released && !q.ended && !otherStarved) q.source.pipe.pause();
      else q.source.pipe.resume();
      if (q.wake && (q.items.length > 0 || q.ended)) {
        const wake = q.wake;
        q.wake = null;
        wake();
      }
    }
  }

  private tooFarApart(q: PipeQueue<unknown>, other: PipeQueue<unknown>): MediaError {
    return new MediaError(
      `media input ${this.input}: the ${this.a.source.name} and ${this.b.source.name} are too far apart: ${q.bytes} bytes (${queuedS(q).toFixed(1)} s) of ${q.source.name} ` +
        `queued while waiting for ${other.source.name}, over the limit of ${this.limits.maxQueueBytes} bytes (maxQueueBytes); the input interleaves them badly or one stalls`,
      'limit',
      this.input,
    );
  }

  private fail(e: unknown): void {
    if (this.failure) return;
    this.failure = e;
    this.child.stop();
    for (const q of [this.a, this.b] as PipeQueue<unknown>[]) {
      q.items = [];
      q.bytes = 0;
      q.source.pipe.resume();
      const wake = q.wake;
      q.wake = null;
      wake?.();
    }
  }
}

/** Media time between the oldest and the newest item of a queue, seconds. */
function queuedS<T>(q: PipeQueue<T>): number {
  const first = q.items[0];
  const last = q.items[q.items.length - 1];
  return first === undefined || last === undefined ? 0 : q.source.timeOf(last) - q.source.timeOf(first);
}
