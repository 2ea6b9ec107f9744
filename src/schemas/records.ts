/**
 * TypeScript shapes of the Avro records in `schemas/*.avsc`, the single source of truth.
 * `test/unit/schemas.test.ts` checks that every field here matches the schema and back.
 * Timestamps are epoch milliseconds (Avro long, logicalType timestamp-millis).
 */

export type PcmEncoding = 'S16LE';

export interface AudioChunk {
  sessionId: string;
  seq: number;
  eventTime: number;
  sampleRate: number;
  encoding: PcmEncoding;
  samples: Buffer;
  endOfStream: boolean;
}

export type FrameFormat = 'JPEG' | 'PNG' | 'RGB24' | 'FEATURES';

export interface VideoFrame {
  sessionId: string;
  seq: number;
  eventTime: number;
  format: FrameFormat;
  width: number;
  height: number;
  data: Buffer;
  features: number[];
  featureSet: string | null;
  facePresent: boolean | null;
  endOfStream: boolean;
}

export interface Word {
  word: string;
  start: number;
  end: number;
  confidence: number | null;
}

export interface TranscriptSegment {
  sessionId: string;
  segmentId: string;
  eventTime: number;
  endTime: number;
  text: string;
  words: Word[];
  isFinal: boolean;
  speaker: string | null;
  channel: number | null;
  language: string | null;
  endOfStream: boolean;
  /** Who made the text: null for a person or an outside system, `asr:<model>` for msa's recogniser. */
  origin: string | null;
}

export type Polarity = 'NEGATIVE' | 'NEUTRAL' | 'POSITIVE';

export interface Contributions {
  text: number;
  audio: number;
  video: number;
}

export interface Modalities {
  text: boolean;
  audio: boolean;
  video: boolean;
}

export interface Score {
  sessionId: string;
  windowStart: number;
  windowEnd: number;
  score: number;
  windowScore: number;
  polarity: Polarity;
  confidence: number;
  contributions: Contributions;
  modalities: Modalities;
  /** Modalities the model actually read; null from older writers. */
  modalitiesUsed: Modalities | null;
  modelVersion: string;
  records: number;
  latencyMs: number;
  emittedAt: number;
}

/** Why a record was diverted; README "Delivery and faults" lists what each means. */
export type DeadLetterCode =
  | 'MALFORMED_AVRO'
  | 'TOO_LARGE'
  | 'UNKNOWN_SCHEMA_ID'
  | 'MISSING_SESSION_ID'
  | 'TIME_OUT_OF_RANGE'
  | 'INVALID_FIELD'
  | 'SESSION_FULL'
  | 'PROCESSING_FAILED'
  | 'LATE';

export interface DeadLetter {
  sourceTopic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  reason: string;
  code: DeadLetterCode;
  sessionId: string | null;
  at: number;
}

/** The three input streams, by modality. */
export type InputKind = 'audio' | 'video' | 'transcript';

export type InputRecord = { kind: 'audio'; value: AudioChunk } | { kind: 'video'; value: VideoFrame } | { kind: 'transcript'; value: TranscriptSegment };
