/** Audio and video of one input from ONE ffmpeg (one connection, one read of stdin). */
import { Readable } from 'node:stream';
import { MediaError } from './errors.js';
import { PairedPipes } from './pairedPipes.js';
import { PcmChunker, S16, streamAudioS16, type AudioChunk, type AudioStreamOptions } from './pcm.js';
import { decodeVideoFrames, FrameReader, type VideoFrame, type VideoOptions } from './ppm.js';
import { ffmpegArgs, startProcess, type MediaInput, type SourceOptions } from './process.js';
import { MAX_STDIN_REPLAY_BYTES, StdinReplay } from './stdinReplay.js';

export interface AudioVideoOptions extends AudioStreamOptions, Pick<VideoOptions, 'fps' | 'width'> {
  /** Media time (seconds) a stream may hold queued before its pipe is paused (default 5). */
  maxAheadS?: number;
  /** Bytes a stream may hold queued while the other is awaited before decoding fails (default 64 MiB). */
  maxQueueBytes?: number;
}

/** Both modalities of one input, from one ffmpeg; read both at once (as `mergeByTime` does). */
export interface AudioVideoStreams {
  audio: AsyncIterable<AudioChunk<Int16Array>>;
  video: AsyncIterable<VideoFrame>;
}

/**
 * Audio (as `streamAudioS16`) and video frames (as `decodeVideoFrames`) of one input from ONE
 * ffmpeg: one connection to a live source, both modalities from the same start, stdin read once.
 * ffmpeg writes the audio to stdout and the PPM frames to fd 3; each stream picks the same input
 * stream as the one-modality decoders would (ffmpeg's default choice per output).
 *
 * Backpressure: ffmpeg blocks when either pipe is full, so both pipes are read at once into
 * queues. A pipe is paused when its queue holds more than `maxAheadS` of media time (or half of
 * `maxQueueBytes`), but never while the consumer waits on the other stream: ffmpeg may have to
 * write this one before it gets to the other. If a queue then grows past `maxQueueBytes`, the
 * audio and video are too far apart in the input (badly interleaved, or one stalls) and both
 * streams fail with a MediaError of kind `limit`.
 *
 * A missing modality: ffmpeg refuses an output without a stream before it decodes anything, so an
 * input with only audio or only video costs one extra open: the stream it lacks fails with kind
 * `no-stream` before any item, and the other is decoded by a second ffmpeg on its own (stdin is
 * replayed to it from what the first one read).
 *
 * Read each stream once, both at the same time (ingest merges them by media time); ffmpeg is
 * killed once both are done or broken out of, or on abort.
 *
 * Example:
 *   const { audio, video } = decodeAudioVideo('rtmp://host/live/key', { fps: 2, width: 320, signal });
 *   await Promise.all([send(audio), send(video)]); // or mergeByTime (ingest) for one ordered stream
 */
export function decodeAudioVideo(input: MediaInput, options: AudioVideoOptions = {}): AudioVideoStreams {
  const chunker = new PcmChunker(options, S16);
  const frames = new FrameReader(options);
  const limits = { maxAheadS: options.maxAheadS ?? 5, maxQueueBytes: options.maxQueueBytes ?? 64 * 1024 * 1024 };
  const replay = input === '-' && !Buffer.isBuffer(options.stdin) ? new StdinReplay(options.stdin ?? process.stdin) : null;
  let opened: Promise<{ pipes: PairedPipes<AudioChunk<Int16Array>, VideoFrame>; decoded: () => boolean }> | undefined;
  const open = async () => {
    const args = ffmpegArgs(input, [chunker.outArgs, frames.outArgs], options);
    const child = await startProcess(options.ffmpegPath ?? 'ffmpeg', args, input, options, 'audio and video', 2, replay?.first());
    let decoded = false;
    for (const pipe of child.outputs) {
      pipe.once('data', () => {
        decoded = true;
        replay?.forget();
      });
    }
    const [audioPipe, videoPipe] = child.outputs as [Readable, Readable];
    const pipes = new PairedPipes(
      input,
      { name: 'audio', pipe: audioPipe, parse: (d) => chunker.push(d), end: () => chunker.end(), timeOf: (c) => c.startS, sizeOf: (c) => c.samples.byteLength },
      { name: 'video', pipe: videoPipe, parse: (d) => frames.push(d), end: () => [], timeOf: (f) => f.time, sizeOf: (f) => f.data.byteLength },
      limits,
      { exited: child.finish, stop: child.stop },
    );
    return { pipes, decoded: () => decoded };
  };
  async function* stream<T>(
    kind: 'audio' | 'video',
    read: (p: PairedPipes<AudioChunk<Int16Array>, VideoFrame>) => AsyncGenerator<T>,
    alone: (o: SourceOptions) => AsyncGenerator<T>,
  ): AsyncGenerator<T> {
    opened ??= open();
    const { pipes, decoded } = await opened;
    try {
      yield* read(pipes);
    } catch (e) {
      const missing = decoded() ? null : missingOutput(e);
      if (missing === null) throw e;
      if (missing === kind)
        throw new MediaError(`cannot decode ${kind} of ${input}: no such stream in the input`, 'no-stream', input, (e as MediaError).stderrTail);
      let stdin = options.stdin;
      if (replay) {
        const again = replay.again();
        if (!again)
          throw new MediaError(
            `media input ${input}: more than ${MAX_STDIN_REPLAY_BYTES} bytes of stdin went by before ffmpeg found no ${missing}; cannot start over with the ${kind} alone`,
            'limit',
            input,
          );
        stdin = again;
      }
      yield* alone({ ...options, stdin });
    }
  }
  return {
    audio: {
      [Symbol.asyncIterator]: () =>
        stream(
          'audio',
          (p) => p.read(p.a),
          (o) => streamAudioS16(input, o),
        ),
    },
    video: {
      [Symbol.asyncIterator]: () =>
        stream(
          'video',
          (p) => p.read(p.b),
          (o) => decodeVideoFrames(input, o),
        ),
    },
  };
}

/**
 * The modality whose output ffmpeg found without a stream: "Output file #1 does not contain any
 * stream" (ffmpeg 5.1), "[out#1/image2pipe @ 0x..] Output file does not contain any stream" (6.1+).
 */
function missingOutput(e: unknown): 'audio' | 'video' | null {
  if (!(e instanceof MediaError) || e.kind !== 'no-stream') return null;
  const m = /Output file #(\d+) does not contain any stream|\[out#(\d+)\/[^\]]*\] Output file does not contain any stream/.exec(e.stderrTail.join('\n'));
  const index = m?.[1] ?? m?.[2];
  return index === undefined ? null : index === '0' ? 'audio' : 'video';
}
