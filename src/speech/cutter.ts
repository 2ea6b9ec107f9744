/**
 * `newUtteranceCutter`: one session's (or one file's) voice activity detection and utterance
 * cutting on the right Silero branch: by the rate its audio arrives at, and with `asr.vad.rate`
 * auto for audio above 8 kHz, by its band (./bandwidth.ts): telephone audio that arrives
 * upsampled runs the 8 kHz branch too. The speech stage, the voice stage and the file commands
 * (transcribeSignals, the voice of a recording) all cut through it.
 */
import { concatFloat32 } from '../arrays.js';
import { BandwidthProbe } from './bandwidth.js';
import type { Utterance, UtteranceCutter } from './sessionAudio.js';
import { UtteranceSegmenter, type UtteranceOptions } from './utterances.js';
import { vadRateFor, type SileroVad, type VadRate, type VadRateSetting } from './vad.js';

/** What `newUtteranceCutter` reads of config `asr.vad`. */
export type CutterOptions = UtteranceOptions & { rate?: VadRateSetting; detectNarrowband?: boolean };

/**
 * An utterance cutter on its own stream of `vad`: one per session (the speech and voice stages)
 * or per file. `inRate`: the rate the audio arrives at, for `options.rate` auto (null: not known).
 * With rate auto and `detectNarrowband` (the default), audio above 8 kHz is held until its band is
 * known (./bandwidth.ts, about 2 s of signal): telephone-band audio then runs the 8 kHz branch.
 */
export function newUtteranceCutter(vad: SileroVad, options: CutterOptions, inRate: number | null): UtteranceCutter {
  const setting = options.rate ?? 'auto';
  const byRate = vadRateFor(setting, inRate);
  if (setting !== 'auto' || byRate === 8000 || options.detectNarrowband === false) return cutterOn(vad, options, byRate);
  return bandProbingCutter(vad, options, byRate);
}

function cutterOn(vad: SileroVad, options: UtteranceOptions, rate: VadRate): UtteranceCutter {
  const segmenter = new UtteranceSegmenter(vad.createStream(rate), options);
  return {
    push: (samples) => segmenter.push(samples, 0),
    flush: () => segmenter.flush(),
    openSinceMs: () => segmenter.openSinceMs(),
    openAudio: () => segmenter.openAudio(),
    dropped: () => segmenter.dropped,
    branch: () => rate,
    release: () => undefined, // a VAD stream holds only its LSTM state
  };
}

/**
 * Holds the audio until the probe has decided its band (or given up: then `fallback`, the branch
 * by rate), then cuts it all on that branch. Until then every sample pushed is undecided audio
 * (`openSinceMs` 0), so the windows wait for it.
 */
function bandProbingCutter(vad: SileroVad, options: UtteranceOptions, fallback: VadRate): UtteranceCutter {
  const probe = new BandwidthProbe();
  let held: Float32Array[] = [];
  let inner: UtteranceCutter | null = null;
  /**
   * Starts the cutter on the branch found; resolves with the utterances the held audio completes.
   * The held audio stays undecided (`openSinceMs` 0) until the cutter has been through it: a fresh
   * cutter in the middle of its first push would say nothing is open, and the windows would close.
   */
  const start = async (): Promise<Utterance[]> => {
    const band = probe.band;
    const cutter = cutterOn(vad, options, band === 'narrow' ? 8000 : band === 'wide' ? 16000 : fallback);
    const audio = concatFloat32(held);
    const out = audio.length > 0 ? await cutter.push(audio) : [];
    held = [];
    inner = cutter;
    return out;
  };
  return {
    push: async (samples) => {
      if (inner) return inner.push(samples);
      probe.push(samples);
      held.push(samples);
      return probe.done ? start() : [];
    },
    flush: async () => {
      let first: Utterance[] = [];
      if (!inner) {
        probe.finish();
        first = await start();
      }
      return [...first, ...(await inner!.flush())];
    },
    openSinceMs: () => (inner ? inner.openSinceMs() : held.length > 0 ? 0 : null),
    openAudio: () => inner?.openAudio() ?? null,
    dropped: () => inner?.dropped() ?? 0,
    branch: () => inner?.branch() ?? null,
    release: () => inner?.release(),
  };
}
