import { PassThrough, Readable } from 'node:stream';

/** Stdin kept for a second ffmpeg when the first finds a stream missing (it fails after probing, ~5 MB). */
export const MAX_STDIN_REPLAY_BYTES = 32 * 1024 * 1024;

/**
 * Stdin for a first ffmpeg that may have to hand it to a second from the start: keeps a copy of
 * what went by (up to MAX_STDIN_REPLAY_BYTES) until told the first one is decoding.
 */
export class StdinReplay {
  private seen: Buffer[] | null = [];
  private bytes = 0;
  private readonly feed = new PassThrough();

  constructor(private readonly src: Readable) {}

  first(): Readable {
    this.src.on('data', this.record);
    this.src.pipe(this.feed);
    return this.feed;
  }

  /** The first ffmpeg is decoding: nothing will be replayed. */
  forget(): void {
    this.seen = null;
    this.src.off('data', this.record);
  }

  /** Everything from the start (null when too much went by): what the first one read, then the rest. */
  again(): Readable | null {
    const seen = this.seen;
    this.forget();
    this.src.unpipe(this.feed);
    this.src.pause();
    if (!seen) return null;
    const src = this.src;
    return Readable.from(
      (async function* () {
        yield* seen;
        yield* src;
      })(),
    );
  }

  private readonly record = (d: Buffer): void => {
    if (!this.seen) return;
    this.seen.push(d);
    this.bytes += d.length;
    if (this.bytes > MAX_STDIN_REPLAY_BYTES) this.seen = null;
  };
}
