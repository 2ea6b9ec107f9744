/**
 * Speech audio in: any input ffmpeg reads, as 16 kHz mono float in [-1, 1).
 *
 * Decoded to 16-bit PCM and divided by 32768, as faster-whisper's decode_audio does: ffmpeg's
 * float output of a multi-channel file with an unknown layout is downmixed with a different
 * gain (sqrt 2 on the MOSI sample), which moves the log-mel away from the reference's.
 */
import { streamAudioS16, type MediaInput, type SourceOptions } from '../media/ffmpeg/index.js';

export const SPEECH_SAMPLE_RATE = 16000;
/**
 * Audio at this rate or less is telephone audio: the VAD hears it with Silero's 8 kHz branch
 * (src/speech/vad.ts `vadRateFor`), and `msa ingest --sample-rate auto` keeps it at this rate.
 */
export const TELEPHONE_RATE = 8000;

export async function decodeSpeech(input: MediaInput, options: SourceOptions = {}): Promise<Float32Array> {
  const parts: Int16Array[] = [];
  let total = 0;
  for await (const chunk of streamAudioS16(input, { ...options, sampleRate: SPEECH_SAMPLE_RATE, chunkMs: 1000 })) {
    parts.push(chunk.samples);
    total += chunk.samples.length;
  }
  const out = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) out[o + i] = p[i]! / 32768;
    o += p.length;
  }
  return out;
}
