import { silentLogger, type Logger } from '../log.js';
import type { PadIndex } from '../model/batchTensors.js';
import { loadManifestCodebooks } from '../features/codebook.js';
import { loadManifest } from '../model/manifest.js';
import { sharedFaceAnalyzer, type FaceDetector } from '../features/visual/index.js';
import { DEFAULT_MAX_MEDIA_IDS, mediaFileIds, type MediaIds } from './media.js';
import { findMedia } from '../features/featurize.js';
import { recogniseFiles } from './recognise.js';
import { normaliseWords } from '../speech/wer.js';
import { DEFAULT_MODEL_TEXT_CLEANUP, recognisedTextForModel, type ModelTextCleanup } from '../speech/modelText.js';
import type { SpeechModels } from '../speech/transcribe.js';
import { loadModel, type ExecutionProviderName, type ModelSession } from '../model/onnxSession.js';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer.js';
import { textMask } from '../model/windowInputs.js';
import type { ModelInput } from '../model/types.js';
import { readLabelledCsv, type LabelledRow, type ReadLabelledCsvOptions, type SkippedRow } from '../datasets/labelledCsv.js';
import { computeMetrics, type Metrics } from './metrics.js';
import type { VoiceParts } from '../voice/index.js';
import { voiceOfRows, voiceSummary, type VoiceSummary } from './voice.js';

/**
 * Scoring a labelled CSV with the exported model, the way `python -m training.evaluate` scores
 * it with PyTorch: text only (each row's text tokenized, truncated at the end, as in training),
 * acoustic and visual absent, metrics of ./metrics.ts. Same rows in, same numbers out.
 * With `media` (`msa eval --media DIR`), each row's media file gives the acoustic / visual ids
 * (./media.ts, the model's codebooks); a row without a media file is skipped. With `speech` too,
 * a row with empty text is scored with the words recognised from its media file (./recognise.ts,
 * as the pipeline hears audio without a transcript); without it, such a row is scored without
 * words ([CLS] [SEP], as training's text-masked rows).
 */

export interface ScoredRow {
  id: string;
  label: number;
  score: number;
  /** The text scored, when it was recognised from the row's media (its CSV text was empty). */
  transcript?: string;
  /** With the voice path: the voice term in the score (W * clamp(v, -1, 1); 0 when no speech was heard). */
  voice?: number;
}

export interface ScoreRowsOptions {
  tokenizer: TextTokenizer;
  session: Pick<ModelSession, 'run'>;
  maxTextTokens: number;
  padIndex: PadIndex;
  batchSize?: number;
  /** Called after each batch with the rows scored so far. */
  onProgress?: (done: number, total: number) => void;
  /** Per row (same order), the non-verbal ids from its media; absent / empty lists = modality absent. */
  nonVerbal?: readonly (Pick<MediaIds, 'acousticIds' | 'visualIds'> | null | undefined)[];
}

/**
 * Scores rows in batches of similar token length (less padding; the Python evaluation batches
 * the same way, so the graph sees the same batches). Results are in the order of `rows`.
 */
export async function scoreRows(rows: readonly LabelledRow[], options: ScoreRowsOptions): Promise<ScoredRow[]> {
  const { tokenizer, session, maxTextTokens, padIndex, batchSize = 32, onProgress } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  const { inputIds, attentionMask } = tokenizer.encode(
    rows.map((r) => r.text),
    maxTextTokens,
  );
  const present = (ids: readonly number[] | undefined, pad: number) =>
    ids && ids.length > 0 ? { ids: [...ids], mask: ids.map(() => 1) } : { ids: [pad], mask: [0] };
  const inputs: ModelInput[] = inputIds.map((ids, i) => {
    const nv = options.nonVerbal?.[i];
    const a = present(nv?.acousticIds, padIndex.acoustic);
    const v = present(nv?.visualIds, padIndex.visual);
    return {
      inputIds: ids,
      attentionMask: textMask(attentionMask[i]!, rows[i]!.text.trim().length > 0),
      acousticIds: a.ids,
      acousticMask: a.mask,
      visualIds: v.ids,
      visualMask: v.mask,
    };
  });
  // Stable sort by length, like numpy's argsort(kind="stable") in training/msa_model/data.py.
  const order = inputs.map((_, i) => i).sort((a, b) => inputs[a]!.inputIds.length - inputs[b]!.inputIds.length || a - b);
  const scores = new Array<number>(rows.length);
  for (let start = 0; start < order.length; start += batchSize) {
    const batch = order.slice(start, start + batchSize);
    const outputs = await session.run(batch.map((i) => inputs[i]!));
    batch.forEach((rowIndex, j) => {
      scores[rowIndex] = outputs[j]!.score;
    });
    onProgress?.(Math.min(start + batchSize, order.length), order.length);
  }
  return rows.map((row, i) => ({ id: row.id, label: row.label, score: scores[i]! }));
}

/**
 * Metrics of scored rows. Labels are taken as float32, as the training code holds them, so that
 * MAE and correlation agree with Python to the last printed digit (2.4 is 2.4000000953674316 there).
 */
export function metricsOf(scored: readonly ScoredRow[]): Metrics {
  return computeMetrics(
    scored.map((r) => r.score),
    scored.map((r) => Math.fround(r.label)),
  );
}

export interface EvaluateCsvOptions extends ReadLabelledCsvOptions {
  csv: string;
  /** The model manifest, e.g. models/manifest.json. */
  manifest: string;
  batchSize?: number;
  executionProvider?: ExecutionProviderName;
  intraOpThreads?: number;
  logger?: Logger;
  onProgress?: (done: number, total: number) => void;
  /** Folder of the rows' media (`<id>.<ext>`): acoustic / visual ids from the model's codebooks. */
  media?: string;
  /** Most ids per modality from a media file (default 64, the training cap). */
  maxMediaIds?: number;
  /** Face detector for the media's video (default short-range, what the model was trained on). */
  faceDetector?: FaceDetector;
  /** Called after each media file is featurized. */
  onMedia?: (done: number, total: number) => void;
  /**
   * With `media`: loads the speech models (called once, only when a row has empty text; released
   * after). Each row with empty text is then scored with the text recognised from its media file;
   * a row with empty text and no media file is skipped with the reason. Without it, rows with
   * empty text are scored without words.
   */
  speech?: () => Promise<SpeechModels>;
  /** Called after each group of media files is recognised. */
  onRecognise?: (done: number, total: number) => void;
  /** How recognised text is cleaned for the model (src/speech/modelText.ts; default as serving). */
  asrText?: ModelTextCleanup;
  /** The CSV's texts are recognised text (e.g. `msa asr wer --out` hypotheses): cleaned as `asrText` says. */
  textIsRecognised?: boolean;
  /**
   * With `media`: loads the voice path (config voice.enabled; released after). Each row's file is
   * read as one session and W * clamp(v, -1, 1) is added to its score (src/eval/voice.ts).
   */
  voice?: () => Promise<VoiceParts | null>;
}

/** The rows whose text was recognised from their media. */
export interface RecognitionSummary {
  rows: number;
  /** Mean normalised words a recognised row (NaN for none). */
  meanWords: number;
  /** Recognised rows in which no words were heard (scored without words). */
  noWords: number;
}

export interface EvaluationReport {
  csv: string;
  model: { name: string; version: string; kind: string; provider: ExecutionProviderName };
  metrics: Metrics;
  /** One per usable row, in CSV order. */
  scored: ScoredRow[];
  /** Rows not scored, with the reason. */
  skipped: SkippedRow[];
  /** With `media` and `speech`: what the recognition gave. */
  recognition?: RecognitionSummary;
  /** With `media` and the voice path: what the voice added. */
  voice?: VoiceSummary;
}

export async function evaluateCsv(options: EvaluateCsvOptions): Promise<EvaluationReport> {
  const logger = options.logger ?? silentLogger;
  const manifest = await loadManifest(options.manifest);
  const data = await readLabelledCsv(options.csv, options);
  if (data.rows.length === 0) {
    const why = data.skipped.slice(0, 3).map((s) => `line ${s.line}: ${s.reason}`);
    throw new Error(
      `${options.csv}: no usable rows to evaluate` +
        (data.skipped.length > 0 ? ` (${data.skipped.length} skipped; ${why.join('; ')}${data.skipped.length > 3 ? '; ...' : ''})` : ''),
    );
  }
  const cleanup = options.asrText ?? DEFAULT_MODEL_TEXT_CLEANUP;
  let rows = options.textIsRecognised ? data.rows.map((r) => ({ ...r, text: recognisedTextForModel(r.text, cleanup) })) : data.rows;
  const skipped = [...data.skipped];
  let nonVerbal: (MediaIds | null)[] | undefined;
  let recognition: RecognitionSummary | undefined;
  const transcripts = new Map<LabelledRow, string>();
  const nonVerbalOf = new Map<LabelledRow, MediaIds>();
  /** Rows whose text was recognised from their media (the objects scored), with the recogniser's own text. */
  const recognised = new Map<LabelledRow, string>();
  let voiceParts: VoiceParts | null = null;
  let voiceOf: Map<LabelledRow, number | null> | undefined;
  if (options.media !== undefined && options.voice) voiceParts = await options.voice();
  try {
    if (options.media !== undefined) {
      const mediaDir = options.media;
      const codebooks = await loadManifestCodebooks(manifest);
      const usesCodebooks = Boolean(codebooks.acoustic || codebooks.visual);
      const recognise = options.speech !== undefined;
      const toRecognise = new Set(recognise ? rows.filter((r) => r.text.trim() === '') : []);
      if (!usesCodebooks && toRecognise.size === 0 && !voiceParts) {
        throw new Error(
          `--media ${mediaDir}: the model manifest ${manifest.manifestPath} names no codebooks (codebooks.acoustic.file / codebooks.visual.file)` +
            (recognise ? ' and no row has empty text to recognise' : ' and speech recognition is off') +
            ', so the media would not be used',
        );
      }
      const drop = new Map<LabelledRow, string>();
      const files = new Map<LabelledRow, string>();
      for (const row of rows) {
        const needsFile = usesCodebooks || toRecognise.has(row) || voiceParts !== null;
        if (!needsFile) continue;
        const file = await findMedia(mediaDir, row.id);
        if (file !== null) files.set(row, file);
        else if (toRecognise.has(row)) drop.set(row, `empty text and no media file ${mediaDir}/${row.id}.<ext> to recognise`);
        else if (usesCodebooks) drop.set(row, `no media file ${mediaDir}/${row.id}.<ext>`);
      }

      const heard = [...toRecognise].filter((r) => files.has(r));
      if (heard.length > 0) {
        const models = await options.speech!();
        try {
          const results = await recogniseFiles(
            heard.map((r) => files.get(r)!),
            models,
            { onProgress: options.onRecognise },
          );
          const words: number[] = [];
          heard.forEach((row, i) => {
            const r = results[i]!;
            if (r.error !== undefined) {
              logger.warn({ id: row.id, err: r.error }, 'speech recognition failed');
              drop.set(row, `speech recognition failed: ${r.error}`);
              return;
            }
            transcripts.set(row, r.transcript.text);
            words.push(normaliseWords(r.transcript.text).length);
          });
          recognition = {
            rows: words.length,
            meanWords: words.length === 0 ? NaN : words.reduce((a, b) => a + b, 0) / words.length,
            noWords: words.filter((n) => n === 0).length,
          };
        } finally {
          await models.release();
        }
      } else if (recognise) {
        recognition = { rows: 0, meanWords: NaN, noWords: 0 };
      }

      if (usesCodebooks) {
        for (const [i, row] of rows.entries()) {
          const file = files.get(row);
          if (file !== undefined && !drop.has(row)) {
            try {
              nonVerbalOf.set(
                row,
                await mediaFileIds(file, {
                  codebooks: { acoustic: codebooks.acoustic ?? null, visual: codebooks.visual ?? null },
                  maxIds: options.maxMediaIds ?? DEFAULT_MAX_MEDIA_IDS,
                  faces: () => sharedFaceAnalyzer(options.faceDetector),
                }),
              );
            } catch (e) {
              logger.warn({ id: row.id, err: (e as Error).message }, 'media features failed');
              drop.set(row, 'media features failed (see log)');
            }
          }
          options.onMedia?.(i + 1, rows.length);
        }
      }
      if (voiceParts)
        voiceOf = await voiceOfRows(
          rows.filter((r) => !drop.has(r)),
          files,
          voiceParts,
          logger,
        );
      for (const row of rows) {
        const reason = drop.get(row);
        if (reason !== undefined) skipped.push({ line: row.line, id: row.id, reason });
      }
      const kept = rows.filter((row) => !drop.has(row));
      if (kept.length === 0) throw new Error(`${options.csv}: no row left to score with the media under ${mediaDir} (${skipped.length} skipped)`);
      if (usesCodebooks) nonVerbal = kept.map((row) => nonVerbalOf.get(row) ?? null);
      rows = kept.map((row) => {
        const text = transcripts.get(row);
        if (text === undefined) return row;
        // The one place recognised text becomes model input (as src/model/windowInputs.ts in serving).
        const heardRow = { ...row, text: recognisedTextForModel(text, cleanup) };
        recognised.set(heardRow, text);
        voiceOf?.set(heardRow, voiceOf.get(row) ?? null);
        return heardRow;
      });
    }
  } finally {
    await voiceParts?.release();
  }
  const tokenizer = await loadTokenizer(manifest.tokenizerPath);
  const session = await loadModel({
    path: manifest.modelPath,
    executionProvider: options.executionProvider ?? 'cpu',
    intraOpThreads: options.intraOpThreads,
    padIndex: manifest.padIndex,
    logger,
  });
  try {
    const scores = await scoreRows(rows, {
      tokenizer,
      session,
      maxTextTokens: manifest.maxTextTokens,
      padIndex: manifest.padIndex,
      batchSize: options.batchSize,
      onProgress: options.onProgress,
      nonVerbal,
    });
    const voice =
      voiceParts && voiceOf
        ? voiceSummary(
            rows.map((row) => voiceOf.get(row)),
            voiceParts,
          )
        : null;
    const scored = scores.map((r, i) => {
      const transcript = recognised.get(rows[i]!);
      const withText = transcript !== undefined ? { ...r, transcript } : r;
      return voice ? { ...withText, score: withText.score + voice.terms[i]!, voice: voice.terms[i]! } : withText;
    });
    return {
      csv: options.csv,
      model: { name: manifest.name, version: manifest.version, kind: manifest.kind, provider: session.provider },
      metrics: metricsOf(scored),
      scored,
      ...(recognition ? { recognition } : {}),
      ...(voice ? { voice: voice.summary } : {}),
      skipped: skipped.sort((a, b) => a.line - b.line),
    };
  } finally {
    await session.release();
  }
}
