import type { AudioChunk, InputRecord, TranscriptSegment, VideoFrame } from '../schemas/records.js';
import type { SourcePosition } from '../transport/types.js';

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

/**
 * Why the windowing stage refused a record; each maps to a dead-letter code of the same name.
 * PROCESSING_FAILED: windowing the record threw (a bug or an unforeseen input); the error is the reason.
 */
export type WindowRejectCode = 'TIME_OUT_OF_RANGE' | 'SESSION_FULL' | 'MISSING_SESSION_ID' | 'PROCESSING_FAILED';

/**
 * What `sessionWindows` emits. Every input record gets exactly one disposition event, emitted
 * while that record is processed and before any window holding it: `assigned` (it joined
 * `windows` >= 1 windows, each of which is later emitted exactly once with its position in
 * `positions`), `late` or `rejected`. A commit tracker can therefore settle a position once it has
 * seen `windows` scored windows listing it, or once the late / rejected record was handled.
 */
export type WindowEvent =
  /** A closed window, ready to score. */
  | { type: 'window'; window: SessionWindow }
  /** The record joined `windows` still-open windows; `missedWindows` of its windows had already closed. */
  | {
      type: 'assigned';
      sessionId: string;
      position: SourcePosition | undefined;
      windows: number;
      missedWindows: number;
    }
  /** Every window containing the record had closed: side output, never silently dropped. */
  | { type: 'late'; record: Positioned<InputRecord>; reason: string }
  /** The record cannot be windowed; for the dead-letter topic. */
  | { type: 'rejected'; record: Positioned<InputRecord>; code: WindowRejectCode; reason: string }
  /** The session ended (endOfStream) or went idle: its open windows were emitted and its buffers freed. */
  | { type: 'expired'; sessionId: string; lastEventTime: number }
  /**
   * These sessions' partitions were revoked: their state was dropped without emitting a window
   * (the new owner scores them); free what else is held for them, emit nothing.
   */
  | { type: 'revoked'; sessionIds: string[]; partitions: number[] };
