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
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
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
    # a row without words: text absent (mask 0), as src/model/windowInputs.ts textMask and training collate
    ids = tok([r["text"]], truncation=True, max_length=manifest["maxTextTokens"])["input_ids"][0]
    seq = lambda s, pad: (np.array([s if s else [pad]], dtype=np.int64), np.array([[1] * len(s) if s else [0]], dtype=np.int64))
    ai, am = seq(a, manifest["acousticPad"]); vi, vm = seq(v, manifest["visualPad"])
    score = sess.run(["score"], {"input_ids": np.array([ids], dtype=np.int64), "attention_mask": np.full((1, len(ids)), 1 if r["text"].strip() else 0, dtype=np.int64),
        "acoustic_ids": ai, "acoustic_mask": am, "visual_ids": vi, "visual_mask": vm})[0][0]
    out.append({"id": r["id"], "acoustic_ids": a, "visual_ids": v, "score": float(score)})
print(json.dumps(out))
`;
import { venvPython, venvRequired } from '../fixtures/env.js';
import { modelDir } from '../fixtures/whisper.js';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log.js';
import { loadSpeechModels } from '../../src/speech/transcribe.js';

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

// Rows with empty text: their words come from recognising their media file (Silero VAD + Whisper
// tiny.en, the pipeline's recogniser), then the row is scored as any other.
const HEARD: [string, string, number][] = [
  ['03-01-03-02-01-01-21', 'kids are talking by the door', 2.5],
  ['03-01-05-02-02-01-22', 'dogs are sitting by the door', -2.5],
];
const TEXT_ROW = 'typed,what a wonderful day,2';
const skipHeard = existsSync(RAVDESS) ? false : 'missing RAVDESS (../shared/data/ravdess)';
const words = (t: string) =>
  t
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .trim()
    .split(/\s+/)
    .join(' ');

/** A folder with the HEARD rows' RAVDESS files and a CSV of them with empty text, a typed row and `extra` lines. */
async function heardRows(extra: string[] = []): Promise<{ dir: string; csv: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-eval-asr-'));
  for (const [id] of HEARD) await symlink(path.join(RAVDESS, `${id}.flac`), path.join(dir, `${id}.flac`));
  const csv = path.join(dir, 'rows.csv');
  await writeFile(csv, ['id,text,label', ...HEARD.map(([id, , label]) => `${id},,${label}`), TEXT_ROW, ...extra].join('\n') + '\n');
  return { dir, csv };
}

before(async () => {
  if (!skipHeard) await modelDir('tiny.en'); // installed at first use
});

test('msa eval --media: rows with empty text are scored with the words heard in their media file', { skip: skipHeard, timeout: 300_000 }, async () => {
  const { dir, csv } = await heardRows(['no-file,,1']);
  try {
    const out = path.join(dir, 'scores.csv');
    const cli = path.join(ROOT, 'bin', 'msa.js');
    const run = spawnSync(process.execPath, [cli, 'eval', '--csv', csv, '--media', dir, '--json', '--out', out, '--threads', '1', '--asr-threads', '1'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { n: number; recognition: { rows: number; meanWords: number; noWords: number } };
    assert.equal(report.n, 3, 'the two heard rows and the typed one');
    assert.deepEqual(report.recognition, { rows: 2, meanWords: 6, noWords: 0 });
    // the row with neither text nor file is listed with the reason, not dropped silently
    assert.match(run.stderr, /line 5 \(id no-file\) skipped: empty text and no media file .*no-file\.<ext> to recognise/);
    assert.match(run.stderr, /1 row\(s\) skipped, 3 scored/);

    const [header, ...lines] = (await readFile(out, 'utf8')).trim().split('\n');
    // The voice path is on by default (config voice.enabled): each row's voice term is in its score and in the voice column.
    assert.equal(header, 'id,label,score,voice,transcript');
    const transcripts = new Map(lines.map((l) => [l.split(',')[0]!, l.split(',').slice(4).join(',').replace(/^"|"$/g, '')]));
    const voice = new Map(lines.map((l) => [l.split(',')[0]!, Number(l.split(',')[3])]));
    for (const [id] of HEARD) assert.ok(voice.get(id) !== 0 && Math.abs(voice.get(id)!) <= 1, `${id}: a voice term ${voice.get(id)}`);
    assert.equal(voice.get('typed'), 0, 'a row without a file has no voice term');
    for (const [id, said] of HEARD) assert.equal(words(transcripts.get(id)!), said, `${id}: the transcript scored`);
    assert.equal(transcripts.get('typed'), '', 'a row with text keeps it (no transcript)');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test(
  'msa eval --media with codebooks: a heard row is scored with its voice ids, as the same row with the words typed',
  { skip: skip || skipHeard, timeout: 300_000 },
  async () => {
    const { dir, csv } = await heardRows();
    try {
      const config = loadConfig({ env: process.env, overrides: { asr: { threads: 1 } } });
      let loads = 0;
      const speech = () => {
        loads++;
        return loadSpeechModels(config, silentLogger);
      };
      const heard = await evaluateCsv({ csv, manifest: MANIFEST, media: dir, speech, intraOpThreads: 1 });
      assert.equal(loads, 1, 'the models are loaded once a run');
      assert.deepEqual(
        heard.scored.map((r) => (r.transcript === undefined ? undefined : words(r.transcript))),
        HEARD.map(([, said]) => said),
      );
      assert.equal(heard.recognition?.rows, 2);
      // the typed row has no file: with codebooks it is skipped, as before
      assert.deepEqual(
        heard.skipped.map((s) => [s.id, s.reason]),
        [['typed', `no media file ${dir}/typed.<ext>`]],
      );

      const typedCsv = path.join(dir, 'typed.csv');
      await writeFile(
        typedCsv,
        ['id,text,label', ...heard.scored.filter((r) => r.transcript).map((r) => `${r.id},"${r.transcript}",${r.label}`)].join('\n') + '\n',
      );
      const typed = await evaluateCsv({ csv: typedCsv, manifest: MANIFEST, media: dir, speech, intraOpThreads: 1 });
      assert.equal(loads, 1, 'no row to recognise: the models are not loaded');
      for (const [i, row] of typed.scored.entries()) assert.equal(row.score, heard.scored[i]!.score, `${row.id}: heard = typed`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
