/**
 * The voice of a whole recording, for `msa featurize` and `msa eval --media`: the same path as the
 * live pipeline (stage.ts) with the recording as one session: voice activity detection (config
 * `asr.vad`) cuts it into utterances, the encoder pools each, a fresh running normaliser and the
 * ridge read each in order, and the recording's value is the duration-weighted mean over its
 * utterances (the live window value with the window spanning the recording).
 */
import { VoiceSession } from '../model/voiceReader.js';
import type { VoiceParts } from './index.js';
import { windowValue, type VoiceReading } from './stage.js';

const SAMPLE_RATE = 16_000;

export interface RecordingVoice {
  /** Duration-weighted mean valence of the utterances, in [-3, 3]; null: no speech heard. */
  value: number | null;
  /** Each utterance: seconds from the start of the recording and its valence. */
  utterances: { start_s: number; end_s: number; value: number }[];
}

/** The voice of one 16 kHz mono recording; `inRate`: the rate it was recorded at, when known (the VAD's branch). */
export async function recordingVoice(
  parts: Pick<VoiceParts, 'served' | 'pool' | 'newCutter'>,
  pcm: Float32Array,
  inRate: number | null = null,
): Promise<RecordingVoice> {
  const cutter = parts.newCutter(inRate);
  try {
    const utterances = [...(await cutter.push(pcm)), ...(await cutter.flush())];
    const pooled = utterances.length > 0 ? await parts.pool(utterances.map((u) => u.samples)) : [];
    const session = new VoiceSession(parts.served.reader);
    const readings: VoiceReading[] = [];
    utterances.forEach((u, i) => {
      const x = pooled[i];
      if (x) readings.push({ from: u.startMs, to: u.endMs, value: session.score(x) });
    });
    const whole = windowValue(readings, 0, Math.max(1, (pcm.length * 1000) / SAMPLE_RATE));
    const s = (ms: number) => Math.round(ms) / 1000;
    return { value: whole?.value ?? null, utterances: readings.map((r) => ({ start_s: s(r.from), end_s: s(r.to), value: r.value })) };
  } finally {
    cutter.release();
  }
}
