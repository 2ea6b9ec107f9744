import type { AudioChunk, DeadLetter, Score, TranscriptSegment, VideoFrame } from './records.js';

/** The record kinds on our topics, each with its TypeScript shape. */
export interface RecordTypes {
  audio: AudioChunk;
  video: VideoFrame;
  transcript: TranscriptSegment;
  score: Score;
  deadLetter: DeadLetter;
}

export type RecordKind = keyof RecordTypes;

/** The `.avsc` file (in `schemas/`) that defines each kind. */
export const SCHEMA_FILES: Readonly<Record<RecordKind, string>> = {
  audio: 'AudioChunk.avsc',
  video: 'VideoFrame.avsc',
  transcript: 'TranscriptSegment.avsc',
  score: 'Score.avsc',
  deadLetter: 'DeadLetter.avsc',
};

export const RECORD_KINDS = Object.keys(SCHEMA_FILES) as readonly RecordKind[];
