/**
 * Live media into the input topics: decodes a source (file, HTTP/HLS/RTMP/RTSP URL, `-` for
 * stdin, `lavfi:<graph>`) with ffmpeg into 16 kHz mono S16LE AudioChunk records and VideoFrame
 * records (JPEG or RGB24) at a fixed rate, stamped in event time, and sends them keyed by session.
 *
 * Time: a record's event time is `startTime` (default: now) plus its media time, so the first
 * audio chunk of a file is stamped `startTime`. Records go out in event-time order across audio,
 * video and transcript, paced to real time unless `realtime: false` (then as fast as the broker
 * takes them, still in order, so the pipeline's watermark never outruns a slower modality).
 *
 * Transcripts: with `subtitles` (an .srt / .vtt file for recorded media), each cue becomes a final
 * TranscriptSegment with evenly spread word timings, sent when media time reaches the cue's end,
 * as an ASR would. Live transcripts come from an upstream ASR writing to the transcript topic.
 *
 * End: when the source ends (or ingest is aborted, or fails after sending), every modality that
 * sent records gets a closing record with `endOfStream: true` and an empty payload, so the
 * session's open windows close. A source with only audio or only video is fine.
 *
 * Live sources (URLs) that drop or refuse are retried with exponential backoff (`reconnect.ts`;
 * unlimited by default); media time then continues from the wall clock, sequence numbers
 * continue, and each reconnect is logged. The end of an RTMP / RTSP / SRT / UDP stream counts as
 * a drop (the publisher may come back); once the retries are used up it ends ingest normally.
 * The end of an HTTP / HLS source is its end (ffmpeg cannot tell a cut connection from it).
 * Files, stdin and lavfi are not retried: a corrupt, truncated or unsupported input rejects with
 * a MediaError naming it. Every ffmpeg child is killed before ingest returns or rejects.
 *
 * Connections: with audio and video both wanted, one ffmpeg decodes both (`MediaPort.audioVideo`),
 * so a URL is opened once per connection, both modalities start at the same point, and stdin is
 * read once. A source found to lack one of them costs one extra open at the start; the other is
 * then decoded alone, and reconnects open it for that one only. A media port without
 * `audioVideo` (test fakes) gets one decoder per modality, merged by media time, stdin copied to each.
 *
 * Example:
 *   const sender = await openRecordSender({ config, brokers, logger });
 *   const summary = await ingest('talk.mp4', { sessionId: 'talk-1', sender, subtitles: 'talk.srt' });
 */
import { readFile } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { decodeAudioVideo, decodeVideoFrames, MediaError, streamAudioS16, type AudioStreamOptions, type AudioVideoOptions, type VideoOptions } from '../media/ffmpeg/index.js';
import { silentLogger, type Logger } from '../log.js';
import type { AudioChunk, InputKind, TranscriptSegment, VideoFrame } from '../schemas/records.js';
import { createFrameEncoder, type FrameEncoder, type IngestFrameFormat } from './frameEncoder.js';
import { createBackoff, sleep, type BackoffPolicy } from './reconnect.js';
import type { RecordSender } from './replay.js';
import { byEndTime, cueToSegment, parseSubtitles, type Cue } from './subtitles.js';

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

type MediaAudio = { startS: number; sampleRate: number; samples: Int16Array };
type MediaFrame = { time: number; width: number; height: number; data: Uint8Array };

export const ffmpegMedia: MediaPort = { audio: streamAudioS16, video: decodeVideoFrames, audioVideo: decodeAudioVideo };

export type SourceKind = 'file' | 'url' | 'stdin' | 'lavfi';

/** What kind of source a string names; only URLs are live (retried when they drop). */
export function sourceKind(source: string): SourceKind {
  if (source === '-') return 'stdin';
  if (source.startsWith('lavfi:')) return 'lavfi';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^file:/i.test(source)) return 'url';
  return 'file';
}

export interface IngestOptions {
  sessionId: string;
  sender: RecordSender;
  /** Audio chunk length, ms (default 100; 20-200). */
  chunkMs?: number;
  /** Audio sample rate of the records (default 16000). */
  sampleRate?: number;
  /** Decode audio / video when present (default true). */
  audio?: boolean;
  video?: boolean;
  /** Video frames per second (default 2). */
  videoFps?: number;
  /** Frame width in pixels, aspect kept (default 320). */
  videoWidth?: number;
  /** JPEG (default) or raw RGB24. */
  videoFormat?: IngestFrameFormat;
  jpegQuality?: number;
  /** Pace records to real time (default true); false sends them as fast as possible. */
  realtime?: boolean;
  /** Epoch ms of media time 0 (default: now). */
  startTime?: number;
  /** Subtitles for recorded media: an .srt / .vtt path, or parsed cues. */
  subtitles?: string | readonly Cue[];
  /** Speaker / language of subtitle segments (a WebVTT voice tag overrides the speaker). */
  speaker?: string | null;
  language?: string | null;
  /** Reconnect policy; maxRetries defaults to unlimited for URLs and is 0 for everything else. */
  reconnect?: Partial<BackoffPolicy>;
  /** Stop after this much media time (seconds). */
  maxDurationS?: number;
  /** Refuse a file or stdin larger than this (bytes). */
  maxInputBytes?: number;
  /** Records per send when not paced (default 64); paced records are sent as they fall due. */
  batchSize?: number;
  /** Data for source `-` (default process.stdin). */
  stdin?: Buffer | Readable;
  /** Aborting ends ingest: the end-of-stream records are sent and the summary returned. */
  signal?: AbortSignal;
  logger?: Logger;
  media?: MediaPort;
  ffmpegPath?: string;
  /** Wall clock and randomness (tests). */
  now?: () => number;
  random?: () => number;
}

export interface IngestSummary {
  sessionId: string;
  source: string;
  live: boolean;
  /** Records sent per kind, the end-of-stream records included. */
  records: Record<InputKind, number>;
  /** Media time covered, ms from startTime to the end of the last audio chunk or video frame. */
  mediaMs: number;
  /** Wall-clock time the ingest took, ms. */
  wallMs: number;
  reconnects: number;
  /** Subtitle cues dropped because they start after the media ended. */
  droppedCues: number;
  ended: 'end' | 'aborted';
}

type Modality = 'audio' | 'video';

type Timed =
  | { kind: 'audio'; at: number; samples: Int16Array; sampleRate: number }
  | { kind: 'video'; at: number; width: number; height: number; data: Buffer };

const MAX_SUBTITLE_BYTES = 16 * 1024 * 1024;

export async function ingest(source: string, opts: IngestOptions): Promise<IngestSummary> {
  const kind = sourceKind(source);
  const live = kind === 'url';
  const now = opts.now ?? Date.now;
  const startTime = opts.startTime ?? now();
  const wallStart = now();
  const chunkMs = opts.chunkMs ?? 100;
  const sampleRate = opts.sampleRate ?? 16000;
  const fps = opts.videoFps ?? 2;
  const width = opts.videoWidth ?? 320;
  const realtime = opts.realtime ?? true;
  const batchSize = opts.batchSize ?? 64;
  const media = opts.media ?? ffmpegMedia;
  const { sessionId, sender } = opts;
  const log = (opts.logger ?? silentLogger).child({ component: 'ingest', sessionId });
  checkOptions({ sessionId, chunkMs, fps, width, batchSize, maxDurationS: opts.maxDurationS });
  const wanted = new Set<Modality>([...(opts.audio !== false ? ['audio' as const] : []), ...(opts.video !== false ? ['video' as const] : [])]);
  if (wanted.size === 0) throw new RangeError('ingest: nothing to do, both audio and video are turned off');
  const backoff = createBackoff({ maxRetries: live ? Infinity : 0, ...opts.reconnect }, opts.random);
  const encode: FrameEncoder | null = wanted.has('video') ? await createFrameEncoder(opts.videoFormat ?? 'JPEG', opts.jpegQuality) : null;
  const cues = byEndTime(await loadCues(opts.subtitles));
  const userSignal = opts.signal;

  const records: Record<InputKind, number> = { audio: 0, video: 0, transcript: 0 };
  const outbox: { audio: AudioChunk[]; video: VideoFrame[]; transcript: TranscriptSegment[] } = { audio: [], video: [], transcript: [] };
  let queued = 0;
  const flush = async () => {
    for (const k of ['audio', 'video', 'transcript'] as const) {
      const values = outbox[k];
      if (values.length === 0) continue;
      outbox[k] = [];
      await sender.send(k, values);
      records[k] += values.length;
    }
    queued = 0;
  };
  const queue = <K extends InputKind>(k: K, value: (typeof outbox)[K][number]) => {
    (outbox[k] as (typeof value)[]).push(value);
    queued += 1;
  };

  // Session state across reconnects.
  let audioSeq = 0;
  let videoSeq = 0;
  let audioEnd = 0; // session ms
  let lastVideoAt = -1;
  let nextCue = 0;
  let transcriptEnded = false;
  const absent = new Set<Modality>();
  const segmentOpts = { sessionId, startTime, speaker: opts.speaker ?? null, language: opts.language ?? null };

  const queueCues = (upTo: number, last: boolean) => {
    // Cues due by session time `upTo`; at the end (`last`), every cue that starts before it.
    const due: Cue[] = [];
    while (nextCue < cues.length && (cues[nextCue]!.endMs <= upTo || (last && cues[nextCue]!.startMs < upTo))) due.push(cues[nextCue++]!);
    due.forEach((cue, i) => {
      const segment = cueToSegment(cue, segmentOpts);
      segment.endOfStream = i === due.length - 1 && (last || nextCue === cues.length);
      transcriptEnded ||= segment.endOfStream;
      queue('transcript', segment);
    });
  };

  // A copy of stdin per decoder, only for a port that cannot decode both from one read.
  const stdinFor = teeStdin(source, opts.stdin, media.audioVideo ? 1 : wanted.size);

  /** One connection to the source: audio and video merged by media time, from session ms `offset`. */
  const connect = (offset: number, ac: AbortController): AsyncGenerator<Timed> => {
    const signal = ac.signal;
    const maxDurationS = opts.maxDurationS === undefined ? undefined : Math.max(0.001, opts.maxDurationS - offset / 1000);
    const common = { signal, maxDurationS, maxInputBytes: opts.maxInputBytes, ffmpegPath: opts.ffmpegPath };
    const toAudio = (c: MediaAudio): Timed => ({ kind: 'audio', at: offset + Math.round(c.startS * 1000), samples: c.samples, sampleRate: c.sampleRate });
    const toVideo = async (f: MediaFrame): Promise<Timed> => ({ kind: 'video', at: offset + Math.round(f.time * 1000), width: f.width, height: f.height, data: await encode!(f) });
    const want = (m: Modality) => wanted.has(m) && !absent.has(m);
    if (want('audio') && want('video') && media.audioVideo) {
      const both = media.audioVideo(source, { ...common, stdin: opts.stdin, sampleRate, chunkMs, fps, width });
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
        log.info({ source, modality: name }, `source has no ${name}`);
        absent.add(name);
        return;
      }
      throw e;
    } finally {
      release();
    }
  }

  log.info({ source, kind, live, realtime, startTime }, 'ingest started');
  let reconnects = 0;
  let offset = 0;
  let ended: IngestSummary['ended'] = 'end';
  let failure: unknown = null;
  try {
    for (;;) {
      if (opts.maxDurationS !== undefined && offset >= opts.maxDurationS * 1000) break;
      const ac = new AbortController();
      const onAbort = () => ac.abort();
      userSignal?.addEventListener('abort', onAbort, { once: true });
      let deliveredThisAttempt = 0;
      let paceBase: number | null = null;
      const items = connect(offset, ac);
      try {
        for await (const item of items) {
          queueCues(item.at, false);
          if (realtime) {
            paceBase ??= now() - item.at;
            const wait = paceBase + item.at - now();
            if (wait > 0) {
              await flush();
              if (!(await sleep(wait, userSignal))) break;
            }
          }
          if (item.kind === 'audio') {
            queue('audio', { sessionId, seq: audioSeq++, eventTime: startTime + item.at, sampleRate: item.sampleRate, encoding: 'S16LE', samples: int16Bytes(item.samples), endOfStream: false });
            audioEnd = Math.max(audioEnd, item.at + Math.round((item.samples.length * 1000) / item.sampleRate));
          } else {
            const frame = { sessionId, seq: videoSeq++, eventTime: startTime + item.at, format: opts.videoFormat ?? 'JPEG', width: item.width, height: item.height, data: item.data };
            queue('video', { ...frame, features: [], featureSet: null, facePresent: null, endOfStream: false });
            lastVideoAt = Math.max(lastVideoAt, item.at);
          }
          deliveredThisAttempt += 1;
          // Paced records are due now: send them at once (a source slower than real time never
          // waits above); unpaced ones go in batches.
          if (realtime || queued >= batchSize) await flush();
          if (userSignal?.aborted) break;
        }
        await flush();
        if (userSignal?.aborted) {
          ended = 'aborted';
          break;
        }
        if (absent.size === wanted.size) {
          throw new MediaError(`media input ${source}: has no ${[...wanted].join(' or ')} stream to ingest`, 'no-stream', source);
        }
        const atLimit = opts.maxDurationS !== undefined && Math.max(audioEnd, lastVideoAt + 1000 / fps) >= opts.maxDurationS * 1000 - chunkMs;
        // A live stream (RTMP, RTSP, ...) that ends may come back: treated like a drop.
        if (!live || !endIsDrop(source) || atLimit) break;
        throw new LiveStreamEnded(source);
      } catch (e) {
        if (userSignal?.aborted) {
          ended = 'aborted';
          break;
        }
        if (!isRetryable(e, live)) throw e;
        if (deliveredThisAttempt > 0) backoff.reset();
        const wait = backoff.next();
        if (wait === null && e instanceof LiveStreamEnded) {
          log.info({ source, retries: backoff.retries }, 'live stream ended; not reconnecting');
          break;
        }
        if (wait === null) throw gaveUp(source, e, backoff.retries + 1);
        reconnects += 1;
        log.warn({ source, retry: backoff.retries, waitMs: wait, reason: (e as Error).message.split('\n')[0] }, `source dropped or refused; reconnecting in ${wait} ms`);
        await flush();
        if (!(await sleep(wait, userSignal))) {
          ended = 'aborted';
          break;
        }
        // Event time continues from the wall clock, never going back.
        offset = Math.max(now() - startTime, audioEnd, lastVideoAt + 1);
      } finally {
        userSignal?.removeEventListener('abort', onAbort);
        ac.abort();
        await items.return(undefined);
      }
    }
  } catch (e) {
    failure = e;
  }

  const mediaMs = Math.max(audioEnd, lastVideoAt >= 0 ? lastVideoAt + Math.round(1000 / fps) : 0);
  let droppedCues = 0;
  try {
    if (!failure) queueCues(mediaMs, true);
    droppedCues = cues.length - nextCue;
    if (droppedCues > 0) log.warn({ droppedCues }, `${droppedCues} subtitle cue(s) start after the media ended (${mediaMs} ms); not sent`);
    // Close the session's windows: an empty end-of-stream record per modality that was sent.
    if (records.audio + outbox.audio.length > 0) {
      queue('audio', { sessionId, seq: audioSeq++, eventTime: startTime + audioEnd, sampleRate, encoding: 'S16LE', samples: Buffer.alloc(0), endOfStream: true });
    }
    if (records.video + outbox.video.length > 0) {
      queue('video', {
        sessionId, seq: videoSeq++, eventTime: startTime + mediaMs, format: opts.videoFormat ?? 'JPEG', width: 0, height: 0, data: Buffer.alloc(0),
        features: [], featureSet: null, facePresent: null, endOfStream: true,
      });
    }
    if (records.transcript + outbox.transcript.length > 0 && !transcriptEnded) {
      queue('transcript', { ...cueToSegment({ index: 0, startMs: mediaMs, endMs: mediaMs, text: '', speaker: null, line: 0 }, segmentOpts), segmentId: `${sessionId}-sub-end`, endOfStream: true });
    }
    await flush();
  } catch (e) {
    if (!failure) throw e;
    log.warn({ err: (e as Error).message }, 'could not send the end-of-stream records after the failure');
  }
  if (failure) {
    log.debug({ source, err: (failure as Error).message }, 'ingest failed'); // the caller reports it
    throw failure;
  }
  const summary: IngestSummary = { sessionId, source, live, records, mediaMs, wallMs: now() - wallStart, reconnects, droppedCues, ended };
  log.info({ records, mediaMs: summary.mediaMs, wallMs: summary.wallMs, reconnects, droppedCues, ended }, 'ingest finished');
  return summary;
}

function checkOptions(o: { sessionId: string; chunkMs: number; fps: number; width: number; batchSize: number; maxDurationS: number | undefined }): void {
  if (typeof o.sessionId !== 'string' || o.sessionId.trim() === '') throw new RangeError(`session id must be a non-blank string, got ${JSON.stringify(o.sessionId)}`);
  if (!Number.isInteger(o.chunkMs) || o.chunkMs < 20 || o.chunkMs > 200) throw new RangeError(`audio chunk length must be a whole number of ms in [20, 200], got ${o.chunkMs}`);
  if (!(o.fps > 0 && o.fps <= 30)) throw new RangeError(`video fps must be in (0, 30], got ${o.fps}`);
  if (!Number.isInteger(o.width) || o.width < 16 || o.width > 4096) throw new RangeError(`video width must be a whole number of pixels in [16, 4096], got ${o.width}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RangeError(`batch size must be a whole number >= 1, got ${o.batchSize}`);
  if (o.maxDurationS !== undefined && !(o.maxDurationS > 0)) throw new RangeError(`max duration must be > 0 seconds, got ${o.maxDurationS}`);
}

async function loadCues(subtitles: IngestOptions['subtitles']): Promise<readonly Cue[]> {
  if (subtitles === undefined) return [];
  if (typeof subtitles !== 'string') return subtitles;
  let text: Buffer;
  try {
    text = await readFile(subtitles);
  } catch (e) {
    throw new Error(`cannot read subtitles ${subtitles}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path`);
  }
  if (text.length > MAX_SUBTITLE_BYTES) throw new Error(`subtitles ${subtitles}: ${text.length} bytes is over the limit of ${MAX_SUBTITLE_BYTES} bytes`);
  return parseSubtitles(text.toString('utf8'), { name: subtitles });
}

/** Streaming protocols where the end of the stream means the connection or the publisher dropped. */
function endIsDrop(source: string): boolean {
  return /^(rtmp[a-z]*|rtsps?|srt|udp|rtp|tcp):\/\//i.test(source);
}

class LiveStreamEnded extends MediaError {
  constructor(source: string) {
    super(`media input ${source}: the live stream ended`, 'network', source);
  }
}

/** Network trouble, or a stream cut mid-way, on a live source is worth another connection. */
function isRetryable(e: unknown, live: boolean): boolean {
  return live && e instanceof MediaError && (e.kind === 'network' || e.kind === 'corrupt' || e.kind === 'failed');
}

function gaveUp(source: string, e: unknown, attempts: number): unknown {
  if (!(e instanceof MediaError) || attempts <= 1) return e;
  return new MediaError(`${source}: gave up after ${attempts} failed attempts in a row; last error: ${e.message}`, e.kind, e.input);
}

function int16Bytes(samples: Int16Array): Buffer {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
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
