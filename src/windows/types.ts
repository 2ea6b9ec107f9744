import type { AudioChunk, TranscriptSegment, VideoFrame } from '../schemas/records.js';

/** Where an input record came from on Kafka; the commit tracker counts these. */
export interface SourcePosition {
  topic: string;
  partition: number;
  offset: string;
}

/** An input record together with its Kafka position (absent for records not from Kafka). */
export type Positioned<T> = { value: T; position?: SourcePosition };

/**
 * Everything one session produced in one event-time window [start, end).
 * Records are in event-time order within each modality.
 */
export interface SessionWindow {
  sessionId: string;
  start: number;
  end: number;
  audio: AudioChunk[];
  video: VideoFrame[];
  transcript: TranscriptSegment[];
  /** Positions of every record in the window, for offset commits. */
  positions: SourcePosition[];
  /** Wall-clock ms when the watermark passed `end` (the window closed). */
  closedAt: number;
}
