/**
 * The voice path's parts, from the config (`voice.*`): the reader (models/voice/reader.json, with
 * its encoder sizing and fusion weight), the Whisper encoder it reads (installed into the cache
 * like the recogniser's), and a Silero voice activity detector per session (config `asr.vad`).
 *
 * Fusion (the contract with training/experiments): the served score of a window is the sentiment
 * model's score + W * clamp(v, -1, 1), v the window's voice value (stage.ts) and W reader.json's
 * `fusion.weight` (1.0 while the file has no `fusion` object; said in the log and `VoiceParts`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { cacheDirOf } from '../config/config.js';
import type { Logger } from '../log.js';
import { loadGraphInWorkers } from '../model/graphPool.js';
import { loadGraph, type Graph } from '../model/ort.js';
import { parseVoiceReader, type VoiceReader } from '../model/voiceReader.js';
import type { UtteranceCutter } from '../speech/sessionAudio.js';
import { newUtteranceCutter } from '../speech/cutter.js';
import { loadSileroVad, type VadStats } from '../speech/vad.js';
import type { WorkerPoolStats } from '../workers/pool.js';
import { ensureWhisperModel, pipPython, WHISPER_MODELS, type WhisperModelName } from '../speech/whisper/install.js';
import { N_MELS } from '../speech/whisper/mel.js';
import type { VoicePooling } from '../speech/whisper/recognizer.js';
import { paddingName, parseVoicePadding, poolUtterances, type VoicePadding } from './encoder.js';

/** Fusion weight W when reader.json has no `fusion` object. */
export const DEFAULT_FUSION_WEIGHT = 1.0;

export interface ServedVoiceReader {
  path: string;
  reader: VoiceReader;
  /** Whisper model whose encoder the reader reads. */
  model: WhisperModelName;
  padding: VoicePadding;
  /** How block2 rows become the reader's vector: mean (d values) or meanstd (mean then standard deviation, 2d). */
  pooling: VoicePooling;
  /** The encoder width d the reader expects (its dimension, halved for meanstd). */
  width: number;
  /** Fusion weight W. */
  weight: number;
  /** true when reader.json has no `fusion.weight` and W is DEFAULT_FUSION_WEIGHT. */
  weightDefaulted: boolean;
}

const fail = (path: string, what: string): never => {
  throw new Error(`voice reader ${path}: ${what}`);
};

/** Parses reader.json for serving: the reader, `representation` (model tiny.en/base, layer 2, mean or meanstd pooling, padding) and `fusion.weight`. */
export function parseServedVoiceReader(json: unknown, path: string): ServedVoiceReader {
  const o = json as { representation?: Record<string, unknown>; fusion?: Record<string, unknown> } | null;
  let reader: VoiceReader;
  try {
    reader = parseVoiceReader(json);
  } catch (err) {
    return fail(path, (err as Error).message);
  }
  const rep = o?.representation;
  if (!rep || typeof rep !== 'object') return fail(path, 'expected the object "representation"');
  const model = rep.model as WhisperModelName;
  if (!WHISPER_MODELS.includes(model)) fail(path, `representation.model ${JSON.stringify(rep.model)}: expected one of ${WHISPER_MODELS.join(', ')}`);
  if (rep.layer !== 2) fail(path, `representation.layer ${JSON.stringify(rep.layer)}: the encoder graphs give block 2 only`);
  if (rep.pooling !== 'mean' && rep.pooling !== 'meanstd') fail(path, `representation.pooling ${JSON.stringify(rep.pooling)}: expected mean or meanstd`);
  const pooling = rep.pooling as VoicePooling;
  if (pooling === 'meanstd' && reader.dim % 2 !== 0)
    fail(path, `representation.pooling meanstd needs an even dimension (mean then std), the reader has ${reader.dim}`);
  let padding: VoicePadding;
  try {
    padding = parseVoicePadding(rep.padding);
  } catch (err) {
    return fail(path, (err as Error).message);
  }
  let weight = DEFAULT_FUSION_WEIGHT;
  let weightDefaulted = true;
  if (o?.fusion !== undefined) {
    const w = o.fusion?.weight;
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) fail(path, `fusion.weight must be a number >= 0, got ${JSON.stringify(w)}`);
    weight = w as number;
    weightDefaulted = false;
  }
  return { path, reader, model, padding, pooling, width: pooling === 'meanstd' ? reader.dim / 2 : reader.dim, weight, weightDefaulted };
}

export async function loadServedVoiceReader(path: string): Promise<ServedVoiceReader> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`voice reader ${path} cannot be read (config voice.reader): ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`voice reader ${path} is not valid JSON (config voice.reader): ${(err as Error).message}`, { cause: err });
  }
  return parseServedVoiceReader(json, path);
}

export interface VoiceParts {
  served: ServedVoiceReader;
  /** Pooled block2 vector per 16 kHz utterance (batched, one encoder run per group of equal length). */
  pool: (utterances: readonly Float32Array[]) => Promise<(Float64Array | null)[]>;
  /** One session's VAD and cutter; `inRate`: the rate its audio arrives at (null: not known), for `asr.vad.rate` auto. */
  newCutter: (inRate: number | null) => UtteranceCutter;
  /** Its worker pools now (`voice-encoder`, `voice-vad`; absent in this thread) and its VAD's batching. */
  workers(): Record<string, WorkerPoolStats>;
  readonly vad: VadStats;
  release(): Promise<void>;
}

/** The parts for `config.voice`, or null when it is off. A missing Whisper model is installed first (`install`). */
export async function loadVoice(config: Config, logger: Logger, options: { install?: boolean } = {}): Promise<VoiceParts | null> {
  if (!config.voice.enabled) return null;
  const log = logger.child({ component: 'voice' });
  const served = await loadServedVoiceReader(config.voice.reader);
  const cacheDir = cacheDirOf(config);
  const dir = await ensureWhisperModel({
    name: served.model,
    cacheDir,
    python: pipPython(config.asr.python, cacheDir),
    allowDownload: options.install !== false,
    logger,
  });
  const executionProvider = config.asr.executionProvider ?? config.model.executionProvider;
  const intraOpThreads = config.asr.threads > 0 ? config.asr.threads : undefined;
  const graphOptions = { path: join(dir, 'encoder.onnx'), executionProvider, intraOpThreads, logger: log };
  // In a worker thread by default (voice.inWorker): ONNX Runtime's run is synchronous in this thread.
  const inWorker = config.voice.inWorker;
  const encoder: Graph = inWorker ? await loadGraphInWorkers({ ...graphOptions, name: 'voice-encoder' }) : await loadGraph(graphOptions);
  if (!encoder.outputNames.includes('block2')) {
    await encoder.release();
    throw new Error(`${encoder.path} has no block2 output (the voice path needs it): reinstall with msa asr install ${served.model}`);
  }
  const vad = await loadSileroVad({ executionProvider, intraOpThreads: 1, inWorker, logger }).catch(async (err: unknown) => {
    await encoder.release();
    throw err;
  });
  log.info(
    {
      reader: served.path,
      model: served.model,
      padding: paddingName(served.padding),
      pooling: served.pooling,
      weight: served.weight,
      provider: encoder.provider,
    },
    served.weightDefaulted
      ? `voice reader loaded; ${served.path} has no fusion.weight, so W = ${DEFAULT_FUSION_WEIGHT} (the default)`
      : `voice reader loaded; fusion weight W = ${served.weight}`,
  );
  const block2 = async (mel: Float32Array, batch: number, frames: number): Promise<Float32Array> => {
    const out = await encoder.run({ mel: { type: 'float32', data: mel, dims: [batch, N_MELS, frames] } }, ['block2']);
    return out.block2!.data as Float32Array;
  };
  // One encoder call at a time (the stage and `msa featurize` call in sequence; this keeps it true).
  let last: Promise<unknown> = Promise.resolve();
  return {
    served,
    pool: (utterances) => {
      const run = last.then(() => poolUtterances(block2, utterances, served.padding, served.pooling, served.width, config.voice.maxBatch));
      last = run.catch(() => undefined);
      return run;
    },
    newCutter: (inRate) => newUtteranceCutter(vad, config.asr.vad, inRate),
    workers: () => {
      const out: Record<string, WorkerPoolStats> = {};
      const enc = encoder.stats?.();
      if (enc) out['voice-encoder'] = enc;
      const v = vad.workerStats();
      if (v) out['voice-vad'] = v;
      return out;
    },
    vad: vad.stats,
    release: async () => {
      await Promise.all([encoder.release(), vad.release()]);
    },
  };
}

/** clamp(v, -1, 1) * W: the voice term added to a window's score (its `contributions.audio`). */
export function voiceTerm(value: number, weight: number): number {
  return weight * Math.min(1, Math.max(-1, value));
}
