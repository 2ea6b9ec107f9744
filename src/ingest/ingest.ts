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
import type { Readable } from 'node:stream';
import { fileAudioRate, MediaError } from '../media/ffmpeg/index.js';
import { TELEPHONE_RATE } from '../speech/audio.js';
import { silentLogger, type Logger } from '../log.js';
import type { InputKind } from '../schemas/records.js';
import { createConnector, ffmpegMedia, type MediaPort, type Modality } from './connection.js';
import { createFrameEncoder, type FrameEncoder, type IngestFrameFormat } from './frameEncoder.js';
import { RecordOutbox } from './outbox.js';
import { createBackoff, sleep, type BackoffPolicy } from './reconnect.js';
import type { RecordSender } from './replay.js';
import { SubtitleFeed } from './subtitleFeed.js';
import { parseSubtitles, type Cue } from './subtitles.js';

export { ffmpegMedia, type MediaPort } from './connection.js';

export type SourceKind = 'file' | 'url' | 'stdin' | 'lavfi';

/** What kind of source a string names; only URLs are live (retried when they drop). */
export function sourceKind(source: string): SourceKind {
  if (source === '-') return 'stdin';
  if (source.startsWith('lavfi:')) return 'lavfi';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^file:/i.test(source)) return 'url';
  return 'file';
}

export const DEFAULT_INGEST_RATE = 16000;

/**
 * `msa ingest --sample-rate auto`: 8000 for a local file whose audio is at 8 kHz or less
 * (telephone recordings keep their rate, so the pipeline's `asr.vad.rate` auto picks the VAD's
 * 8 kHz branch), else 16000. Other sources, and a file ffprobe cannot read, get 16000 (decoding
 * then says what is wrong).
 */
export async function autoSampleRate(source: string): Promise<number> {
  const rate = sourceKind(source) === 'file' ? await fileAudioRate(source) : null;
  return rate !== null && rate <= TELEPHONE_RATE ? TELEPHONE_RATE : DEFAULT_INGEST_RATE;
}

export interface IngestOptions {
  sessionId: string;
  sender: RecordSender;
  /** Audio chunk length, ms (default 100; 20-200). */
  chunkMs?: number;
  /** Audio sample rate of the records (default 16000; `msa ingest --sample-rate auto`: autoSampleRate). */
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
  /** The audio records' sample rate (Hz). */
  sampleRate: number;
  /** Media time covered, ms from startTime to the end of the last audio chunk or video frame. */
  mediaMs: number;
  /** Wall-clock time the ingest took, ms. */
  wallMs: number;
  reconnects: number;
  /** Subtitle cues dropped because they start after the media ended. */
  droppedCues: number;
  ended: 'end' | 'aborted';
}

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
  const { sessionId } = opts;
  const log = (opts.logger ?? silentLogger).child({ component: 'ingest', sessionId });
  checkOptions({ sessionId, chunkMs, fps, width, batchSize, maxDurationS: opts.maxDurationS });
  const wanted = new Set<Modality>([...(opts.audio !== false ? ['audio' as const] : []), ...(opts.video !== false ? ['video' as const] : [])]);
  if (wanted.size === 0) throw new RangeError('ingest: nothing to do, both audio and video are turned off');
  const backoff = createBackoff({ maxRetries: live ? Infinity : 0, ...opts.reconnect }, opts.random);
  const encode: FrameEncoder | null = wanted.has('video') ? await createFrameEncoder(opts.videoFormat ?? 'JPEG', opts.jpegQuality) : null;
  const segment = { speaker: opts.speaker ?? null, language: opts.language ?? null };
  const subtitles = new SubtitleFeed(await loadCues(opts.subtitles), { sessionId, startTime, ...segment });
  const userSignal = opts.signal;
  const outbox = new RecordOutbox(opts.sender, { sessionId, startTime, sampleRate, videoFormat: opts.videoFormat ?? 'JPEG' });
  const queueCues = (upTo: number, last: boolean) => {
    for (const s of subtitles.due(upTo, last)) outbox.transcript(s);
  };

  // Session state across reconnects.
  let audioEnd = 0; // session ms
  let lastVideoAt = -1;
  const absent = new Set<Modality>();
  const connect = createConnector({
    source,
    media: opts.media ?? ffmpegMedia,
    wanted,
    absent,
    sampleRate,
    chunkMs,
    fps,
    width,
    encode,
    maxDurationS: opts.maxDurationS,
    maxInputBytes: opts.maxInputBytes,
    ffmpegPath: opts.ffmpegPath,
    stdin: opts.stdin,
    log,
  });

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
              await outbox.flush();
              if (!(await sleep(wait, userSignal))) break;
            }
          }
          if (item.kind === 'audio') {
            outbox.audio(item.at, item.samples, item.sampleRate);
            audioEnd = Math.max(audioEnd, item.at + Math.round((item.samples.length * 1000) / item.sampleRate));
          } else {
            outbox.video(item.at, item.width, item.height, item.data);
            lastVideoAt = Math.max(lastVideoAt, item.at);
          }
          deliveredThisAttempt += 1;
          // Paced records are due now: send them at once (a source slower than real time never
          // waits above); unpaced ones go in batches.
          if (realtime || outbox.size >= batchSize) await outbox.flush();
          if (userSignal?.aborted) break;
        }
        await outbox.flush();
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
        log.warn(
          { source, retry: backoff.retries, waitMs: wait, reason: (e as Error).message.split('\n')[0] },
          `source dropped or refused; reconnecting in ${wait} ms`,
        );
        await outbox.flush();
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
    droppedCues = subtitles.left;
    if (droppedCues > 0) log.warn({ droppedCues }, `${droppedCues} subtitle cue(s) start after the media ended (${mediaMs} ms); not sent`);
    // Close the session's windows: an empty end-of-stream record per modality that was sent.
    outbox.endOfStream(audioEnd, mediaMs, subtitles.ended, segment);
    await outbox.flush();
  } catch (e) {
    if (!failure) throw e;
    log.warn({ err: (e as Error).message }, 'could not send the end-of-stream records after the failure');
  }
  if (failure) {
    log.debug({ source, err: (failure as Error).message }, 'ingest failed'); // the caller reports it
    throw failure;
  }
  const records = outbox.sent;
  const summary: IngestSummary = { sessionId, source, live, records, sampleRate, mediaMs, wallMs: now() - wallStart, reconnects, droppedCues, ended };
  log.info({ records, mediaMs: summary.mediaMs, wallMs: summary.wallMs, reconnects, droppedCues, ended }, 'ingest finished');
  return summary;
}

function checkOptions(o: { sessionId: string; chunkMs: number; fps: number; width: number; batchSize: number; maxDurationS: number | undefined }): void {
  if (typeof o.sessionId !== 'string' || o.sessionId.trim() === '')
    throw new RangeError(`session id must be a non-blank string, got ${JSON.stringify(o.sessionId)}`);
  if (!Number.isInteger(o.chunkMs) || o.chunkMs < 20 || o.chunkMs > 200)
    throw new RangeError(`audio chunk length must be a whole number of ms in [20, 200], got ${o.chunkMs}`);
  if (!(o.fps > 0 && o.fps <= 30)) throw new RangeError(`video fps must be in (0, 30], got ${o.fps}`);
  if (!Number.isInteger(o.width) || o.width < 16 || o.width > 4096)
    throw new RangeError(`video width must be a whole number of pixels in [16, 4096], got ${o.width}`);
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
