/**
 * One session's audio on its way to utterances, as the speech and voice stages both take it:
 * resampled to 16 kHz as it streams, cut by voice activity (`UtteranceCutter`), with the event time
 * of each point of it.
 */
import type { AudioChunk } from '../schemas/records.js';
import { StreamingResampler } from '../features/acoustic/resample.js';
import type { VadRate } from './vad.js';

export const ASR_SAMPLE_RATE = 16_000;

/** One stretch of speech; times in ms from the start of the session's audio. */
export interface Utterance {
  startMs: number;
  endMs: number;
  /** 16 kHz mono. */
  samples: Float32Array;
}

/** Cuts one session's 16 kHz audio into utterances as it streams (voice activity detection). */
export interface UtteranceCutter {
  /** The next samples; resolves with the utterances they complete. */
  push(samples: Float32Array): Promise<Utterance[]>;
  /** End of the audio: the utterance still open, if any. */
  flush(): Promise<Utterance[]>;
  /** Where (ms) audio pushed may still become an utterance (open speech); null when all is decided. */
  openSinceMs(): number | null;
  /** The open utterance so far (for an interim hypothesis); null in silence. */
  openAudio(): Utterance | null;
  /** Stretches of speech shorter than the minimum, left out so far. */
  dropped(): number;
  /** The VAD branch it runs: 8000 for telephone-band audio, else 16000; null while it still listens for the band (./bandwidth.ts). */
  branch(): VadRate | null;
  release(): void;
}

export interface SessionAudio {
  id: string;
  cutter: UtteranceCutter;
  resampler: StreamingResampler | null;
  inRate: number;
  /** Event time of the session's first audio sample. */
  t0: number;
  /** 16 kHz samples pushed to the cutter, and event time they reach. */
  samples: number;
  /** Audio chunks taken but not yet through voice activity detection (their audio starts where `samples` ends). */
  unprocessed: number;
  /** Work on this session's audio, one step after another. */
  chain: Promise<void>;
  ended: boolean;
  /** The cutter released. */
  released: boolean;
}

/** The audio state of a session whose first chunk is `chunk`. */
export function sessionAudio(chunk: AudioChunk, cutter: UtteranceCutter): SessionAudio {
  return {
    id: chunk.sessionId,
    cutter,
    resampler: chunk.sampleRate !== ASR_SAMPLE_RATE ? new StreamingResampler(chunk.sampleRate, ASR_SAMPLE_RATE) : null,
    inRate: chunk.sampleRate,
    t0: chunk.eventTime,
    samples: 0,
    unprocessed: 0,
    chain: Promise.resolve(),
    ended: false,
    released: false,
  };
}

/** Event time (epoch ms) of `ms` into the session's audio. */
export const eventTimeOf = (s: SessionAudio, ms: number): number => s.t0 + Math.round(ms);

/** ms of audio in `samples` 16 kHz samples. */
export const msOf = (samples: number): number => (samples * 1000) / ASR_SAMPLE_RATE;

/** Earliest event time the cutter has not decided yet (open speech, audio not through it); null: none. */
export function undecidedAudioFrom(s: SessionAudio): number | null {
  let low = Infinity;
  const open = s.cutter.openSinceMs();
  if (open !== null) low = Math.min(low, eventTimeOf(s, open));
  if (s.unprocessed > 0) low = Math.min(low, eventTimeOf(s, msOf(s.samples)));
  return low === Infinity ? null : low;
}

/**
 * Resamples one chunk's samples and pushes them through the cutter; resolves with the utterances
 * they complete, and at the end of the stream (`ended`) every one still open.
 */
export async function cutChunk(s: SessionAudio, floats: Float32Array, ended: boolean): Promise<Utterance[]> {
  const pcm = s.resampler ? s.resampler.push(floats) : floats;
  const tail = ended && s.resampler ? s.resampler.flush() : new Float32Array(0);
  const utterances = [...(await s.cutter.push(pcm)), ...(tail.length > 0 ? await s.cutter.push(tail) : [])];
  s.samples += pcm.length + tail.length;
  if (ended) utterances.push(...(await s.cutter.flush()));
  return utterances;
}
