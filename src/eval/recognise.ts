/**
 * Speech recognition over many media files (`msa eval --media` rows without text, `msa asr wer`):
 * each file decoded to 16 kHz mono (decodeSpeech), cut by the VAD (the branch for the file's own
 * rate, fileAudioRate), and the utterances of a group
 * of files transcribed together (transcribeSignals), so the recogniser runs full batches.
 */
import { fileAudioRate } from '../media/ffmpeg/index.js';
import { decodeSpeech, SPEECH_SAMPLE_RATE } from '../speech/audio.js';
import { transcribeSignals, type SpeechModels, type SpeechTranscript } from '../speech/transcribe.js';

/** A file's transcript, or why there is none (the file could not be decoded). */
export type Recognised = { transcript: SpeechTranscript; audioS: number; error?: undefined } | { transcript?: undefined; audioS?: undefined; error: string };

export interface RecogniseFilesOptions {
  /** Files decoded and transcribed together (default 16). */
  groupSize?: number;
  /** Called after each group with the files done so far. */
  onProgress?: (done: number, total: number) => void;
}

/** One result per file, in order. A file that fails to decode is an error result, not a throw. */
export async function recogniseFiles(
  files: readonly string[],
  models: Pick<SpeechModels, 'recognizers' | 'vad' | 'vadOptions'>,
  options: RecogniseFilesOptions = {},
): Promise<Recognised[]> {
  const groupSize = options.groupSize ?? 16;
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new RangeError(`group size must be a positive integer, got ${groupSize}`);
  const out: Recognised[] = [];
  for (let start = 0; start < files.length; start += groupSize) {
    const group = files.slice(start, start + groupSize);
    const decoded = await Promise.all(
      group.map((f) =>
        Promise.all([decodeSpeech(f), fileAudioRate(f)]).then(
          ([audio, inRate]) => ({ audio, inRate }),
          (e: unknown) => ({ error: `cannot decode ${f}: ${(e as Error).message}` }),
        ),
      ),
    );
    const ok = decoded.flatMap((d) => ('audio' in d ? [d] : []));
    const transcripts = await transcribeSignals(
      ok.map((d) => d.audio),
      models,
      ok.map((d) => d.inRate),
    );
    let next = 0;
    for (const d of decoded) out.push('audio' in d ? { transcript: transcripts[next++]!, audioS: d.audio.length / SPEECH_SAMPLE_RATE } : { error: d.error });
    options.onProgress?.(out.length, files.length);
  }
  return out;
}
