// @needs python (scripts/test.mjs prepares the training venv for this file)
/**
 * `msa eval --media` against the training code, on a handful of RAVDESS files (held-out actors):
 *
 * Node: evaluateCsv with `media` (src/eval/media.ts: extractors, the manifest's codebooks, the
 * pipeline's cap and no-face rule) through the shipped ONNX graph.
 * Python: the same files featurized by `featurize` (the training-data path), quantised by
 * training/msa_model/codebook.py and nonverbal_data.py (JsonCodebook, featurized_ids), tokenized
 * by transformers, scored row by row by onnxruntime. Same ids, same scores (float32 noise; the
 * shipped graph is weight-only int8, batch-independent, so batching does not matter; a
 * dynamically quantised graph would need a looser tolerance).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { evaluateCsv } from '../../src/eval/evaluate.js';
import { mediaIds } from '../../src/eval/media.js';
import { featurize } from '../../src/features/featurize.js';
import { loadManifestCodebooks } from '../../src/features/codebook.js';
import { loadManifest } from '../../src/model/manifest.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PYTHON = venvPython;
const RAVDESS = path.resolve(ROOT, '../shared/data/ravdess');
const MANIFEST = path.resolve(ROOT, process.env.MSA_EVAL_MANIFEST ?? 'models/manifest.multimodal.json');
const TOLERANCE = 1e-4;

/** id, text (the spoken sentence, or empty: scored without words), label (training/msa_model/valence.py mapping). */
const ROWS: [string, string, number][] = [
  ['03-01-03-02-01-01-21', 'Kids are talking by the door', 2.5],
  ['03-01-05-02-02-01-22', 'Dogs are sitting by the door', -2.5],
  ['03-01-01-01-01-01-23', 'Kids are talking by the door', 0],
  ['03-01-04-02-01-02-24', 'Kids are talking by the door', -2],
  ['03-01-03-01-02-02-22', '', 2],
  ['03-01-06-02-02-01-21', '', -2],
];

function manifestHasCodebooks(): boolean {
  if (!existsSync(MANIFEST)) return false;
  const m = JSON.parse(readFileSync(MANIFEST, 'utf8')) as { codebooks?: { acoustic?: { file?: string } | null } | null };
  return Boolean(m.codebooks?.acoustic?.file);
}

const missing = [
  [PYTHON, 'the Python venv'],
  [RAVDESS, 'RAVDESS (../shared/data/ravdess)'],
]
  .filter(([p]) => !existsSync(p!))
  .map(([, what]) => what);
const skip =
  missing.length > 0
    ? `missing ${missing.join(', ')}`
    : manifestHasCodebooks()
      ? false
      : `${path.relative(ROOT, MANIFEST)} names no codebooks (text-only model)`;
// Under npm test (MSA_PYTHON set) nothing may be missing: fail rather than skip.
if (venvRequired && skip) throw new Error(`eval --media parity test cannot run: ${skip}`);

const PY_REFERENCE = `
import json, sys
import numpy as np, onnxruntime as ort
from pathlib import Path
from transformers import AutoTokenizer
sys.path.insert(0, sys.argv[1])
from training.msa_model.codebook import JsonCodebook
from training.msa_model.nonverbal_data import featurized_ids, read_jsonl
root, manifest_path, features = sys.argv[1:4]
manifest = json.loads(Path(manifest_path).read_text())
mdir = Path(manifest_path).parent
cb_a = JsonCodebook(mdir / manifest["codebooks"]["acoustic"]["file"])
cb_v = JsonCodebook(mdir / manifest["codebooks"]["visual"]["file"])
cap = manifest["training"]["modelConfig"]["max_nonverbal_len"]
tok = AutoTokenizer.from_pretrained(str(mdir / manifest["tokenizer"]), local_files_only=True)
so = ort.SessionOptions(); so.intra_op_num_threads = 1
sess = ort.InferenceSession(str(mdir / manifest["file"]), so, providers=["CPUExecutionProvider"])
out = []
for r in read_jsonl(Path(features)):
    a, v = featurized_ids(r, cb_a, cb_v, cap)
    ids = tok([r["text"]], truncation=True, max_length=manifest["maxTextTokens"])["input_ids"][0]
    seq = lambda s, pad: (np.array([s if s else [pad]], dtype=np.int64), np.array([[1] * len(s) if s else [0]], dtype=np.int64))
    ai, am = seq(a, manifest["acousticPad"]); vi, vm = seq(v, manifest["visualPad"])
    score = sess.run(["score"], {"input_ids": np.array([ids], dtype=np.int64), "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
        "acoustic_ids": ai, "acoustic_mask": am, "visual_ids": vi, "visual_mask": vm})[0][0]
    out.append({"id": r["id"], "acoustic_ids": a, "visual_ids": v, "score": float(score)})
print(json.dumps(out))
`;
import { venvPython, venvRequired } from '../fixtures/env.js';

test('msa eval --media: Node scores RAVDESS files as Python scores their featurize output', { skip, timeout: 300_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-eval-media-'));
  try {
    const media = path.join(dir, 'media');
    await import('node:fs/promises').then((fs) => fs.mkdir(media));
    for (const [id] of ROWS) await symlink(path.join(RAVDESS, `${id}.flac`), path.join(media, `${id}.flac`));
    const csv = path.join(dir, 'rows.csv');
    await writeFile(csv, ['id,text,label', ...ROWS.map(([id, text, label]) => `${id},${text},${label}`)].join('\n') + '\n');

    const report = await evaluateCsv({ csv, manifest: MANIFEST, media, batchSize: 4 });
    assert.equal(report.scored.length, ROWS.length);
    assert.equal(report.skipped.length, 0);

    // the training-data path: featurize (audio only, as the RAVDESS training data), then Python
    const out = path.join(dir, 'feat');
    const summary = await featurize({ csv, mediaDir: media, outDir: out, video: false });
    assert.equal(summary.written, ROWS.length);
    const py = JSON.parse(
      execFileSync(PYTHON, ['-c', PY_REFERENCE, ROOT, MANIFEST, path.join(out, 'features.jsonl')], {
        env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' },
        maxBuffer: 16 * 1024 * 1024,
      }).toString(),
    ) as { id: string; acoustic_ids: number[]; visual_ids: number[]; score: number }[];
    assert.deepEqual(
      py.map((r) => r.id),
      ROWS.map(([id]) => id),
    );

    const manifest = await loadManifest(MANIFEST);
    const codebooks = await loadManifestCodebooks(manifest);
    for (const [i, row] of report.scored.entries()) {
      const ids = await mediaIds(row.id, { mediaDir: media, codebooks: { acoustic: codebooks.acoustic ?? null, visual: codebooks.visual ?? null } });
      assert.ok(ids, `media of ${row.id}`);
      assert.deepEqual(ids.acousticIds, py[i]!.acoustic_ids, `${row.id}: acoustic ids`);
      assert.deepEqual(ids.visualIds, py[i]!.visual_ids, `${row.id}: visual ids`);
      assert.ok(ids.acousticIds.length > 0, `${row.id}: the voice is used`);
      assert.ok(Math.abs(row.score - py[i]!.score) <= TOLERANCE, `${row.id}: Node ${row.score}, Python ${py[i]!.score}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('msa eval --media: rows without a media file are skipped with the reason', { skip, timeout: 120_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-eval-media-'));
  try {
    const [id, text, label] = ROWS[0]!;
    await symlink(path.join(RAVDESS, `${id}.flac`), path.join(dir, `${id}.flac`));
    const csv = path.join(dir, 'rows.csv');
    await writeFile(csv, `id,text,label\n${id},${text},${label}\nnot-there,hello,1\n`);
    const report = await evaluateCsv({ csv, manifest: MANIFEST, media: dir });
    assert.deepEqual(
      report.scored.map((r) => r.id),
      [id],
    );
    assert.equal(report.skipped.length, 1);
    assert.match(report.skipped[0]!.reason, /no media file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
