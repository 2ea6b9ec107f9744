/** The speech stage's contract (speech/stage.ts): what it runs on, what it counts, what it offers. */
import type { Logger } from '../log.js';
import type { AudioChunk, TranscriptSegment } from '../schemas/records.js';
import type { WatermarkHold } from '../windows/windowOptions.js';
import type { UtteranceCutter } from './sessionAudio.js';
import type { VadRate } from './vad.js';

export interface Recognizer {
  /** Short model name for `origin` and logs, e.g. `whisper-tiny.en`. */
  readonly name: string;
  /**
   * Text of each utterance (16 kHz mono floats), in order; one call is one batch. `fast`: the
   * cheapest decoding (greedy) instead of the configured beam, for interims and to catch up.
   */
  transcribe(utterances: readonly Float32Array[], options?: { fast?: boolean }): Promise<string[]>;
}

export type AsrMode = 'auto' | 'always' | 'off';

export interface SpeechStageOptions {
  mode: Exclude<AsrMode, 'off'>;
  /** Every recogniser the stage may use: their origins (`asr:<name>`) are the stage's own. */
  recognizers: readonly Recognizer[];
  /** The recogniser of a session whose VAD runs `branch` (its cutter's `branch()`), one of `recognizers`. */
  recognizerFor: (branch: VadRate) => Recognizer;
  /** One session's VAD and cutter; `inRate`: the rate its audio arrives at (null: not known), for `asr.vad.rate` auto. */
  newCutter: (inRate: number | null) => UtteranceCutter;
  /** Writes segments to the transcript topic; resolves once acknowledged. */
  send: (segments: TranscriptSegment[]) => Promise<void>;
  /** Utterances given to the recogniser at once. */
  maxBatch: number;
  /** Utterances waiting for the recogniser, all sessions; more are dropped (counted, logged). */
  maxQueued: number;
  /** Sessions heard at once; audio of more is not transcribed (counted, logged once per session). */
  maxSessions: number;
  /** Wall ms a session's windows wait for its transcript at most. */
  holdTimeoutMs: number;
  /**
   * An interim hypothesis of an utterance still open is written every `interimMs` of its audio
   * (same segmentId as its final, `isFinal` false), when the recogniser is idle; 0 = finals only.
   */
  interimMs: number;
  /** Failure of the recogniser or of `send` (the pipeline fails: records stay uncommitted). */
  onError: (err: unknown) => void;
  logger: Logger;
  now?: () => number;
}

export interface SpeechStats {
  sessions: number;
  sessionsHeard: number;
  /** Sessions left to a transcript from elsewhere (auto mode). */
  sessionsLeftToOtherTranscript: number;
  sessionsRefused: number;
  utterances: number;
  /** Final segments written. */
  segments: number;
  /** Interim hypotheses written (of utterances still open). */
  interimSegments: number;
  /**
   * Final utterances the stage asked to decode fast (greedy) rather than with the live beam: others
   * were queued, or the recogniser was busy (stage.ts BEAM_BUSY_MAX). With `asr.liveBeamSize` 1
   * every final is greedy anyway; this counts the asks.
   */
  fastFinals: number;
  emptyUtterances: number;
  /** Speech shorter than `asr.vad.minSpeechMs` (a click, a breath), not transcribed. */
  shortSpeech: number;
  droppedUtterances: number;
  batches: number;
  audioSeconds: number;
  recognizerSeconds: number;
  holdTimeouts: number;
  queued: number;
  /**
   * Utterance end to its segment read back from the transcript topic, ms (the last 1000): from
   * the wall time the stage received the audio chunk holding the utterance's last sample.
   */
  latencyMs: number[];
}

export interface SpeechStage extends WatermarkHold {
  /** Every decoded audio record, in each session's order. */
  audio(chunk: AudioChunk): void;
  /** Every decoded transcript record, before the windows take it. */
  transcript(segment: TranscriptSegment): void;
  /** The stage left this session to a transcript made elsewhere (auto mode). */
  leftToOther(sessionId: string): boolean;
  /**
   * Drops a session at once (its partition was revoked: another instance hears it now): its queued
   * utterances are not transcribed and nothing more is written for it.
   */
  forget(sessionId: string): void;
  /** The origins this stage writes, `asr:<model>` of each recogniser (a session's segments have its recogniser's). */
  readonly origins: ReadonlySet<string>;
  stats(): SpeechStats;
  /** Stops taking audio; resolves when the work in hand is written (or failed). */
  close(): Promise<void>;
}
