/**
 * Which input payloads the served model and the pipeline's stages read, so that the decoder can
 * skip the rest (codec `decode(..., { payload: false })`): a words-only model never looks at an
 * audio chunk's samples or a video frame's pixels, and decoding them (avsc copies every byte) was
 * a sixth of the pipeline's CPU at 200 sessions. A record whose payload is skipped still goes
 * through the windows as before: it counts in its windows' records, its modality holds the
 * watermark, its offset is committed once its windows are scored.
 */
import type { Config } from '../config/config.js';
import { modalitiesRead, type ModelManifest } from '../model/manifest.js';

export interface PayloadsRead {
  /** Audio samples of every session: read by the model's voice path (acoustic codebook) or the voice path (`voice.enabled`). */
  audio: boolean;
  /** Audio samples of the sessions the speech stage hears (`asr.mode` not off, and no transcript of their own). */
  speech: boolean;
  /** Video frames: read by the model's face path (visual codebook). */
  video: boolean;
}

export interface ReaderFacts {
  manifest: Pick<ModelManifest, 'codebookFiles'>;
  /** The speech stage runs (`asr.mode` not off). */
  speechStage: boolean;
  /** The Whisper-encoder voice path (`voice.enabled`) reads audio. */
  voicePath: boolean;
}

/** Which modalities' payloads the served graph and the stages read. */
export function payloadsRead(facts: ReaderFacts): PayloadsRead {
  const model = modalitiesRead(facts.manifest);
  return { audio: model.audio || facts.voicePath, speech: facts.speechStage, video: model.video };
}

/**
 * Whether to decode the payload of a record of `kind` for `sessionId`: always for transcripts; for
 * audio when the model or voice path reads it, or the speech stage hears that session (`heard`).
 */
export function readsPayload(reads: PayloadsRead, kind: string, heard: () => boolean): boolean {
  if (kind === 'video') return reads.video;
  if (kind === 'audio') return reads.audio || (reads.speech && heard());
  return true;
}

/** Whether the configuration turns on a voice path that reads raw audio (`voice.enabled`, where that setting exists). */
export function voicePathOn(config: Config): boolean {
  const voice = (config as { voice?: { enabled?: unknown } }).voice;
  return voice?.enabled === true;
}
