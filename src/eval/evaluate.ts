import { silentLogger, type Logger } from '../log.js';
import type { PadIndex } from '../model/batchTensors.js';
import { loadManifest } from '../model/manifest.js';
import { loadModel, type ExecutionProviderName, type ModelSession } from '../model/onnxSession.js';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer.js';
import type { ModelInput } from '../model/types.js';
import { readLabelledCsv, type LabelledRow, type ReadLabelledCsvOptions, type SkippedRow } from './labelledCsv.js';
import { computeMetrics, type Metrics } from './metrics.js';

/**
 * Scoring a labelled CSV with the exported model, the way `python -m training.evaluate` scores
 * it with PyTorch: text only (each row's text tokenized, truncated at the end, as in training),
 * acoustic and visual absent, metrics of ./metrics.ts. Same rows in, same numbers out.
 */

export interface ScoredRow {
  id: string;
  label: number;
  score: number;
}

export interface ScoreRowsOptions {
  tokenizer: TextTokenizer;
  session: Pick<ModelSession, 'run'>;
  maxTextTokens: number;
  padIndex: PadIndex;
  batchSize?: number;
  /** Called after each batch with the rows scored so far. */
  onProgress?: (done: number, total: number) => void;
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
  const inputs: ModelInput[] = inputIds.map((ids, i) => ({
    inputIds: ids,
    attentionMask: attentionMask[i]!,
    acousticIds: [padIndex.acoustic],
    acousticMask: [0],
    visualIds: [padIndex.visual],
    visualMask: [0],
  }));
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
}

export interface EvaluationReport {
  csv: string;
  model: { name: string; version: string; kind: string; provider: ExecutionProviderName };
  metrics: Metrics;
  /** One per usable row, in CSV order. */
  scored: ScoredRow[];
  /** Rows not scored, with the reason. */
  skipped: SkippedRow[];
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
  const tokenizer = await loadTokenizer(manifest.tokenizerPath);
  const session = await loadModel({
    path: manifest.modelPath,
    executionProvider: options.executionProvider ?? 'cpu',
    intraOpThreads: options.intraOpThreads,
    padIndex: manifest.padIndex,
    logger,
  });
  try {
    const scored = await scoreRows(data.rows, {
      tokenizer,
      session,
      maxTextTokens: manifest.maxTextTokens,
      padIndex: manifest.padIndex,
      batchSize: options.batchSize,
      onProgress: options.onProgress,
    });
    return {
      csv: options.csv,
      model: { name: manifest.name, version: manifest.version, kind: manifest.kind, provider: session.provider },
      metrics: metricsOf(scored),
      scored,
      skipped: data.skipped,
    };
  } finally {
    await session.release();
  }
}
