/**
 * One connection to a media source for `ingest`: audio and video decoded (one ffmpeg for both
 * when the media port can, else one per modality with stdin copied to each), merged into one
 * stream ordered by media time. A modality the source lacks is noted and skipped.
 */
import { PassThrough, Readable } from 'node:stream';
import {
  decodeAudioVideo,
  decodeVideoFrames,
  MediaError,
  streamAudioS16,
  type AudioStreamOptions,
  type AudioVideoOptions,
  type VideoOptions,
} from '../media/ffmpeg/index.js';
import type { Logger } from '../log.js';
import type { FrameEncoder } from './frameEncoder.js';

/** What ingest needs from the media adapter (the ffmpeg one by default; fakes in tests). */
export interface MediaPort {
  audio(input: string, opts: AudioStreamOptions): AsyncIterable<MediaAudio>;
  video(input: string, opts: VideoOptions): AsyncIterable<MediaFrame>;
  /**
   * Both from one connection; a modality the source lacks fails with kind `no-stream` before any
   * item while the other goes on. Without it, ingest opens the source once per modality.
   */
  audioVideo?(input: string, opts: AudioVideoOptions): { audio: AsyncIterable<MediaAudio>; video: AsyncIterable<MediaFrame> };
}

export type MediaAudio = { startS: number; sampleRate: number; samples: Int16Array };
export type MediaFrame = { time: number; width: number; height: number; data: Uint8Array };

export const ffmpegMedia: MediaPort = { audio: streamAudioS16, video: decodeVideoFrames, audioVideo: decodeAudioVideo };

export type Modality = 'audio' | 'video';

/** A decoded item at session time `at` (ms from the session's media time 0). */
export type Timed =
  { kind: 'audio'; at: number; samples: Int16Array; sampleRate: number } | { kind: 'video'; at: number; width: number; height: number; data: Buffer };

export interface ConnectionOptions {
  source: string;
  media: MediaPort;
  wanted: ReadonlySet<Modality>;
  /** Modalities found missing so far (filled in as the source says so; kept across reconnects). */
  absent: Set<Modality>;
  sampleRate: number;
  chunkMs: number;
  fps: number;
  width: number;
  encode: FrameEncoder | null;
  maxDurationS?: number;
  maxInputBytes?: number;
  ffmpegPath?: string;
  stdin?: Buffer | Readable;
  log: Logger;
}

/** Opens connections to one source; each yields its items from session time `offset` on. */
export function createConnector(o: ConnectionOptions): (offset: number, ac: AbortController) => AsyncGenerator<Timed> {
  // A copy of stdin per decoder, only for a port that cannot decode both from one read.
  const stdinFor = teeStdin(o.source, o.stdin, o.media.audioVideo ? 1 : o.wanted.size);
  const { source, media, absent } = o;

  /** Yields a modality's items; a modality the source lacks (no-stream before any item) is noted and skipped. */
  async function* modality<T>(name: Modality, release: () => void, items: AsyncIterable<T>, map: (item: T) => Timed | Promise<Timed>): AsyncGenerator<Timed> {
    let any = false;
    try {
      for await (const item of items) {
        any = true;
        yield await map(item);
      }
    } catch (e) {
      if (!any && e instanceof MediaError && e.kind === 'no-stream') {
        o.log.info({ source, modality: name }, `source has no ${name}`);
        absent.add(name);
        return;
      }
      throw e;
    } finally {
      release();
    }
  }

  return (offset, ac) => {
    const signal = ac.signal;
    const maxDurationS = o.maxDurationS === undefined ? undefined : Math.max(0.001, o.maxDurationS - offset / 1000);
    const common = { signal, maxDurationS, maxInputBytes: o.maxInputBytes, ffmpegPath: o.ffmpegPath };
    const { sampleRate, chunkMs, fps, width } = o;
    const toAudio = (c: MediaAudio): Timed => ({ kind: 'audio', at: offset + Math.round(c.startS * 1000), samples: c.samples, sampleRate: c.sampleRate });
    const toVideo = async (f: MediaFrame): Promise<Timed> => ({
      kind: 'video',
      at: offset + Math.round(f.time * 1000),
      width: f.width,
      height: f.height,
      data: await o.encode!(f),
    });
    const want = (m: Modality) => o.wanted.has(m) && !absent.has(m);
    if (want('audio') && want('video') && media.audioVideo) {
      const both = media.audioVideo(source, { ...common, stdin: o.stdin, sampleRate, chunkMs, fps, width });
      const none = () => {};
      return mergeByTime([modality('audio', none, both.audio, toAudio), modality('video', none, both.video, toVideo)], () => ac.abort());
    }
    const streams: AsyncIterator<Timed>[] = [];
    if (want('audio')) {
      const { stdin, release } = stdinFor();
      streams.push(modality('audio', release, media.audio(source, { ...common, stdin, sampleRate, chunkMs }), toAudio));
    }
    if (want('video')) {
      const { stdin, release } = stdinFor();
      streams.push(modality('video', release, media.video(source, { ...common, stdin, fps, width }), toVideo));
    }
    return mergeByTime(streams, () => ac.abort());
  };
}

/**
 * For stdin read by both decoders, a copy of the stream per decoder (a Buffer is shared as is).
 * `release` lets a decoder that stopped (no such stream, time limit) stop holding the others back.
 */
function teeStdin(source: string, stdin: Buffer | Readable | undefined, readers: number): () => { stdin?: Buffer | Readable; release: () => void } {
  const none = () => {};
  if (source !== '-' || readers < 2 || Buffer.isBuffer(stdin)) return () => ({ stdin, release: none });
  const input = stdin ?? process.stdin;
  return () => {
    const copy = new PassThrough();
    input.pipe(copy);
    return {
      stdin: copy,
      release: () => {
        input.unpipe(copy);
        copy.resume(); // drop what is buffered so the other reader keeps flowing
      },
    };
  };
}

/**
 * Merges streams that are each sorted by `at` into one sorted stream. The first error calls
 * `onFailure` (which should stop the other streams: a pending read is waited for), closes every
 * iterator and is rethrown.
 */
export async function* mergeByTime<T extends { at: number }>(streams: AsyncIterator<T>[], onFailure: () => void = () => {}): AsyncGenerator<T> {
  const heads: (T | null)[] = streams.map(() => null);
  const open = streams.map(() => true);
  let failure: unknown = null;
  try {
    for (;;) {
      await Promise.all(
        streams.map(async (s, i) => {
          if (!open[i] || heads[i] !== null) return;
          try {
            const r = await s.next();
            if (r.done) open[i] = false;
            else heads[i] = r.value;
          } catch (e) {
            open[i] = false;
            failure ??= e;
            onFailure(); // stop the others now (kill their ffmpeg) rather than wait for their next item
          }
        }),
      );
      if (failure) throw failure;
      let best = -1;
      heads.forEach((h, i) => {
        if (h !== null && (best < 0 || h.at < heads[best]!.at)) best = i;
      });
      if (best < 0) return;
      const item = heads[best]!;
      heads[best] = null;
      yield item;
    }
  } finally {
    await Promise.allSettled(streams.map((s) => s.return?.(undefined)));
  }
}
