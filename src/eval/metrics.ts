/**
 * The standard sentiment-regression metrics (MMSA's `metricsTop.py`, see data/README.md), with
 * the same definitions as the Python training code so that numbers from `msa eval` and from
 * `python -m training.evaluate` can be compared:
 *
 * - acc2_has0 / f1_has0: all samples, label >= 0 vs < 0 (a prediction of exactly 0 is
 *   non-negative); f1 is scikit-learn's `f1_score(average='weighted')`.
 * - acc2_non0 / f1_non0: only samples whose label != 0, label > 0 vs prediction > 0 (a
 *   prediction of exactly 0 counts as negative there).
 * - acc7: round(clip(x, -3, 3)) equal for prediction and label; acc5 the same with clip to
 *   [-2, 2]. Rounding is numpy's `np.round`: halves go to the even integer (2.5 -> 2).
 * - mae: mean |prediction - label|; corr: Pearson correlation (`np.corrcoef`).
 *
 * Accuracies and F1 are in percent. A metric that is undefined (no samples with label != 0,
 * constant predictions for corr) is NaN, as numpy gives it.
 */
import { roundHalfEven } from '../arrays.js';

export interface Metrics {
  n: number;
  acc2_has0: number;
  acc2_non0: number;
  f1_has0: number;
  f1_non0: number;
  acc5: number;
  acc7: number;
  mae: number;
  corr: number;
}

/** The keys of `Metrics`, in the order tables and JSON print them. */
export const METRIC_KEYS = ['n', 'acc2_has0', 'acc2_non0', 'f1_has0', 'f1_non0', 'acc5', 'acc7', 'mae', 'corr'] as const;

export function computeMetrics(predictions: readonly number[], labels: readonly number[]): Metrics {
  if (predictions.length !== labels.length) {
    throw new RangeError(`computeMetrics: ${predictions.length} predictions but ${labels.length} labels`);
  }
  for (const [name, values] of [
    ['prediction', predictions],
    ['label', labels],
  ] as const) {
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new RangeError(`computeMetrics: ${name} ${bad} is ${values[bad]}, not a finite number`);
  }
  const n = labels.length;

  const has0Truth = labels.map((y) => y >= 0);
  const has0Pred = predictions.map((p) => p >= 0);
  const non0 = labels.flatMap((y, i) => (y !== 0 ? [i] : []));
  const non0Truth = non0.map((i) => labels[i]! > 0);
  const non0Pred = non0.map((i) => predictions[i]! > 0);

  return {
    n,
    acc2_has0: percent(accuracy(has0Truth, has0Pred)),
    acc2_non0: percent(accuracy(non0Truth, non0Pred)),
    f1_has0: percent(weightedF1(has0Truth, has0Pred)),
    f1_non0: percent(weightedF1(non0Truth, non0Pred)),
    acc5: percent(clippedClassAccuracy(predictions, labels, 2)),
    acc7: percent(clippedClassAccuracy(predictions, labels, 3)),
    mae: mean(predictions.map((p, i) => Math.abs(p - labels[i]!))),
    corr: pearson(predictions, labels),
  };
}

function percent(fraction: number): number {
  return fraction * 100;
}

function accuracy<T>(truth: readonly T[], pred: readonly T[]): number {
  if (truth.length === 0) return NaN;
  let hits = 0;
  for (let i = 0; i < truth.length; i++) if (truth[i] === pred[i]) hits++;
  return hits / truth.length;
}

/** Share of samples whose rounded, clipped prediction equals the rounded, clipped label. */
function clippedClassAccuracy(predictions: readonly number[], labels: readonly number[], bound: number): number {
  const cls = (x: number) => roundHalfEven(Math.min(bound, Math.max(-bound, x)));
  return accuracy(labels.map(cls), predictions.map(cls));
}

/**
 * scikit-learn's `f1_score(truth, pred, average='weighted')` for binary labels: per class of
 * the union of true and predicted classes, F1 = 2 tp / (2 tp + fp + fn) (0 when undefined),
 * averaged with the class's support in `truth` as weight.
 */
function weightedF1(truth: readonly boolean[], pred: readonly boolean[]): number {
  if (truth.length === 0) return NaN;
  let weighted = 0;
  for (const cls of [false, true]) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < truth.length; i++) {
      if (pred[i] === cls && truth[i] === cls) tp++;
      else if (pred[i] === cls) fp++;
      else if (truth[i] === cls) fn++;
    }
    const support = tp + fn;
    const f1 = tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
    weighted += f1 * support;
  }
  return weighted / truth.length;
}

function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Pearson correlation; NaN when either side is constant or there are fewer than 2 samples. */
function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2) return NaN;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r)); // np.corrcoef clips too
}
