/** The voice stage's contract (voice/stage.ts): what it runs on, what it counts, what it offers. */
import type { Logger } from '../log.js';
import type { AudioChunk } from '../schemas/records.js';
import type { VoiceReader } from '../model/voiceReader.js';
import type { UtteranceCutter } from '../speech/sessionAudio.js';

export interface VoiceStageOptions {
  reader: VoiceReader;
  /** Pooled block2 vector of each utterance (null: too short); one call is one batch. */
  pool: (utterances: readonly Float32Array[]) => Promise<(Float64Array | null)[]>;
  /** One session's VAD and cutter; `inRate`: the rate its audio arrives at (null: not known), for `asr.vad.rate` auto. */
  newCutter: (inRate: number | null) => UtteranceCutter;
  /** Utterances given to the encoder at once. */
  maxBatch: number;
  /** Utterances waiting for the encoder, all sessions; more are not read (counted, logged). */
  maxQueued: number;
  /** Sessions read at once; the voice of more is not read (counted, logged once per session). */
  maxSessions: number;
  /** Wall ms a window's score waits at most for its voice values. */
  holdTimeoutMs: number;
  /**
   * Wall ms after its last audio record that a session's state is freed even without `end` (its
   * records never reached the windows, e.g. all dead-lettered); 0 = never. Make it well above the
   * windows' idle timeout, so no window of the session is still to come.
   */
  idleMs?: number;
  /** The encoder failed (the pipeline fails: records stay uncommitted). */
  onError: (err: unknown) => void;
  logger: Logger;
}

/** One utterance's reading, event times (epoch ms). */
export interface VoiceReading {
  from: number;
  to: number;
  /** Valence in [-3, 3]. */
  value: number;
}

/** The voice of one window: v and what it came from. */
export interface WindowVoice {
  value: number;
  utterances: number;
  /** ms of speech inside the window that the value weighs. */
  ms: number;
}

export interface VoiceStats {
  sessions: number;
  sessionsRead: number;
  sessionsRefused: number;
  /** Sessions whose state is held now. */
  sessionsOpen: number;
  utterances: number;
  /** Utterances valued (a reading each). */
  readings: number;
  /** Utterances not read: too many waiting (`voice.maxQueued`). */
  droppedUtterances: number;
  /** Utterances shorter than a mel frame or with no pooled vector. */
  emptyUtterances: number;
  batches: number;
  audioSeconds: number;
  encoderSeconds: number;
  /** Windows whose score stopped waiting for voice values after `holdTimeoutMs`. */
  waitTimeouts: number;
  /** Sessions freed after `idleMs` without audio and without ending (their records never reached the windows). */
  idleFreed: number;
  queued: number;
}

export interface VoiceStage {
  audio(chunk: AudioChunk): void;
  /** The window's voice (see the module comment); null when the session's voice is not read or no utterance overlaps it. */
  windowVoice(sessionId: string, start: number, end: number): Promise<WindowVoice | null>;
  /** The session ended and its last score went out: frees its state. */
  end(sessionId: string): void;
  /** The session's partition was revoked: frees its state at once; its queued utterances are not read. */
  forget(sessionId: string): void;
  /** Sessions whose state is held (for tests of freeing). */
  holds(sessionId: string): boolean;
  stats(): VoiceStats;
  close(): Promise<void>;
}
