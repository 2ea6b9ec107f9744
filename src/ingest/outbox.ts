/**
 * What `ingest` sends for one session: audio chunks, video frames and subtitle segments as
 * records, numbered per modality, queued and sent in batches, and the closing end-of-stream
 * record of every modality that sent something.
 */
import type { AudioChunk, InputKind, TranscriptSegment, VideoFrame } from '../schemas/records.js';
import type { IngestFrameFormat } from './frameEncoder.js';
import type { RecordSender } from './replay.js';
import { cueToSegment, type Cue } from './subtitles.js';

type Queued = { audio: AudioChunk[]; video: VideoFrame[]; transcript: TranscriptSegment[] };

export class RecordOutbox {
  /** Records sent per kind, the end-of-stream records included. */
  readonly sent: Record<InputKind, number> = { audio: 0, video: 0, transcript: 0 };
  private queued: Queued = { audio: [], video: [], transcript: [] };
  private count = 0;
  private audioSeq = 0;
  private videoSeq = 0;

  constructor(
    private readonly sender: RecordSender,
    private readonly session: { sessionId: string; startTime: number; sampleRate: number; videoFormat: IngestFrameFormat },
  ) {}

  /** Records waiting to be sent. */
  get size(): number {
    return this.count;
  }

  /** A chunk of S16LE samples at session time `at` (ms). */
  audio(at: number, samples: Int16Array, sampleRate: number): void {
    const { sessionId, startTime } = this.session;
    this.push('audio', {
      sessionId,
      seq: this.audioSeq++,
      eventTime: startTime + at,
      sampleRate,
      encoding: 'S16LE',
      samples: int16Bytes(samples),
      endOfStream: false,
    });
  }

  /** An encoded frame at session time `at` (ms). */
  video(at: number, width: number, height: number, data: Buffer): void {
    const { sessionId, startTime, videoFormat } = this.session;
    this.push('video', {
      sessionId,
      seq: this.videoSeq++,
      eventTime: startTime + at,
      format: videoFormat,
      width,
      height,
      data,
      features: [],
      featureSet: null,
      facePresent: null,
      endOfStream: false,
    });
  }

  transcript(segment: TranscriptSegment): void {
    this.push('transcript', segment);
  }

  /** Sends what is queued, kind by kind. */
  async flush(): Promise<void> {
    for (const k of ['audio', 'video', 'transcript'] as const) {
      const values = this.queued[k];
      if (values.length === 0) continue;
      this.queued[k] = [];
      await this.sender.send(k, values);
      this.sent[k] += values.length;
    }
    this.count = 0;
  }

  /**
   * Queues an empty end-of-stream record per modality that sent records, so the session's open
   * windows close: audio at `audioEnd`, video and the transcript at `mediaMs` (session ms). The
   * transcript's is skipped when its last segment already said endOfStream.
   */
  endOfStream(audioEnd: number, mediaMs: number, transcriptEnded: boolean, segment: { speaker: string | null; language: string | null }): void {
    const { sessionId, startTime, sampleRate, videoFormat } = this.session;
    const any = (k: InputKind) => this.sent[k] + this.queued[k].length > 0;
    if (any('audio')) {
      this.push('audio', {
        sessionId,
        seq: this.audioSeq++,
        eventTime: startTime + audioEnd,
        sampleRate,
        encoding: 'S16LE',
        samples: Buffer.alloc(0),
        endOfStream: true,
      });
    }
    if (any('video')) {
      this.push('video', {
        sessionId,
        seq: this.videoSeq++,
        eventTime: startTime + mediaMs,
        format: videoFormat,
        width: 0,
        height: 0,
        data: Buffer.alloc(0),
        features: [],
        featureSet: null,
        facePresent: null,
        endOfStream: true,
      });
    }
    if (any('transcript') && !transcriptEnded) {
      const end: Cue = { index: 0, startMs: mediaMs, endMs: mediaMs, text: '', speaker: null, line: 0 };
      this.push('transcript', { ...cueToSegment(end, { sessionId, startTime, ...segment }), segmentId: `${sessionId}-sub-end`, endOfStream: true });
    }
  }

  private push<K extends InputKind>(k: K, value: Queued[K][number]): void {
    (this.queued[k] as (typeof value)[]).push(value);
    this.count += 1;
  }
}

function int16Bytes(samples: Int16Array): Buffer {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
}
