/**
 * The metrics must give the Python numbers. Two sets of vectors:
 * - test/fixtures/metrics-vectors.json, made with numpy + scikit-learn following MMSA's
 *   metricsTop.py (np.round, np.corrcoef, accuracy_score, f1_score(average='weighted'));
 * - training/tests/metric_vectors.json, made by the training code's own metrics, when present.
 * Counts-based metrics agree exactly; mae and corr to 1e-9 (numpy sums pairwise and through
 * BLAS, so the last bits can differ).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { roundHalfEven } from '../../src/arrays.js';
import { computeMetrics, METRIC_KEYS, type Metrics } from '../../src/eval/metrics.js';

interface Vector {
  name: string;
  predictions: number[];
  labels: number[];
  expected: Record<string, number | null>;
}

function assertMatches(actual: Metrics, expected: Record<string, number | null>, name: string): void {
  for (const key of METRIC_KEYS) {
    if (!(key in expected)) continue;
    const want = expected[key];
    const got = actual[key];
    if (want === null || (typeof want === 'number' && Number.isNaN(want))) {
      assert.ok(Number.isNaN(got), `${name}: ${key} should be undefined (NaN), got ${got}`);
    } else {
      assert.ok(Math.abs(got - want!) <= 1e-9 * Math.max(1, Math.abs(want!)), `${name}: ${key} is ${got}, Python says ${want}`);
    }
  }
}

const ours = JSON.parse(readFileSync(new URL('../fixtures/metrics-vectors.json', import.meta.url), 'utf8')) as {
  cases: Vector[];
};

for (const vector of ours.cases) {
  test(`matches numpy/scikit-learn: ${vector.name}`, () => {
    assertMatches(computeMetrics(vector.predictions, vector.labels), vector.expected, vector.name);
  });
}

const trainingVectors = new URL('../../training/tests/metric_vectors.json', import.meta.url);
test(
  'matches the training code on training/tests/metric_vectors.json',
  { skip: existsSync(trainingVectors) ? false : 'training/tests/metric_vectors.json does not exist yet' },
  () => {
    const cases = loadTrainingVectors(JSON.parse(readFileSync(trainingVectors, 'utf8')));
    assert.ok(cases.length > 0, 'training/tests/metric_vectors.json holds no cases');
    for (const vector of cases) assertMatches(computeMetrics(vector.predictions, vector.labels), vector.expected, vector.name);
  },
);

/** training/tests/make_metric_vectors.py writes `{cases: [{name, pred, label, expected}]}`. */
function loadTrainingVectors(raw: unknown): Vector[] {
  const cases = (raw as { cases?: unknown }).cases;
  assert.ok(Array.isArray(cases), 'training/tests/metric_vectors.json has no "cases" list');
  return cases.map((item, i) => {
    const c = item as { name?: string; pred?: number[]; label?: number[]; expected?: Record<string, number | null> };
    assert.ok(Array.isArray(c.pred) && Array.isArray(c.label) && c.expected, `case ${i} lacks pred, label or expected`);
    return { name: c.name ?? `case ${i}`, predictions: c.pred, labels: c.label, expected: c.expected };
  });
}

test('roundHalfEven rounds like np.round', () => {
  const cases: [number, number][] = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [-0.5, -0],
    [-1.5, -2],
    [-2.5, -2],
    [0.49999999999999994, 0],
    [1.4, 1],
    [1.6, 2],
    [-1.4, -1],
    [-1.6, -2],
    [3, 3],
    [-3, -3],
  ];
  // === rather than Object.is: numpy gives -0 for -0.5, which compares equal to 0 as a class.
  for (const [x, want] of cases) assert.ok(roundHalfEven(x) === want, `round(${x}) is ${roundHalfEven(x)}, want ${want}`);
});

test('refuses mismatched lengths and non-finite values, naming them', () => {
  assert.throws(() => computeMetrics([1, 2], [1]), /2 predictions but 1 labels/);
  assert.throws(() => computeMetrics([1, NaN], [1, 2]), /prediction 1 is NaN/);
  assert.throws(() => computeMetrics([1, 2], [Infinity, 2]), /label 0 is Infinity/);
});

test('no samples: n is 0 and every other metric is undefined', () => {
  const m = computeMetrics([], []);
  assert.equal(m.n, 0);
  for (const key of METRIC_KEYS) if (key !== 'n') assert.ok(Number.isNaN(m[key]), key);
});
