/**
 * The eval command's pure parts, without a model: labelled CSV rows (columns, MOSEI ids, splits,
 * bad rows), the manifest loader, batching and ordering of scoreRows, and the output formats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseCsv } from '../../src/datasets/csv.js';
import { labelledRows, readLabelledCsv } from '../../src/datasets/labelledCsv.js';
import { metricsOf, scoreRows } from '../../src/eval/evaluate.js';
import { loadManifest, modalitiesRead, parseManifest } from '../../src/model/manifest.js';
import { REPO_ROOT } from '../fixtures/servedModel.js';
import type { TextTokenizer } from '../../src/model/tokenizer.js';
import type { ModelInput, ModelOutput } from '../../src/model/types.js';
import { metricsJson, metricsTable, scoresCsv } from '../../src/cli/commands/eval.js';

const rowsOf = (text: string, options = {}) => labelledRows('t.csv', parseCsv(text), options);

test('reads id,text,label and ignores extra columns', () => {
  const { rows, skipped } = rowsOf('id,text,label,mode\na_1,"hi, there",1.5,train\nb_2,meh,-0.2,dev\n');
  assert.deepEqual(rows, [
    { id: 'a_1', text: 'hi, there', label: 1.5, line: 2 },
    { id: 'b_2', text: 'meh', label: -0.2, line: 3 },
  ]);
  assert.deepEqual(skipped, []);
});

test('MOSEI: the id is video_id_clip_id when there is no id column', () => {
  const { rows } = rowsOf('video_id,clip_id,text,label,mode\n-3g5yACwYnA,10,Key is,0.6667,train\n');
  assert.equal(rows[0]!.id, '-3g5yACwYnA_10');
});

test('--split keeps one split and says which exist when none match', () => {
  const csv = 'id,text,label,mode\na,x,1,train\nb,y,2,dev\nc,z,0,dev\n';
  assert.deepEqual(
    rowsOf(csv, { split: 'dev' }).rows.map((r) => r.id),
    ['b', 'c'],
  );
  assert.throws(() => rowsOf(csv, { split: 'test' }), /no row has mode = "test" \(values present: dev, train\)/);
  assert.throws(() => rowsOf('id,text,label\na,x,1\n', { split: 'dev' }), /no column "mode".*for --split/);
});

test('--limit keeps the first N usable rows', () => {
  const csv = 'id,text,label\na,x,oops\nb,y,2\nc,z,0\nd,w,1\n';
  const { rows, skipped } = rowsOf(csv, { limit: 2 });
  assert.deepEqual(
    rows.map((r) => r.id),
    ['b', 'c'],
  );
  assert.equal(skipped.length, 1);
});

test('bad labels and ragged rows are skipped with line, id and value; never silently', () => {
  const csv = 'id,text,label\na,x,abc\nb,y,\nc,z,7\nd,w\ne,v,1e0\nf,u,-3\n';
  const { rows, skipped } = rowsOf(csv);
  assert.deepEqual(
    rows.map((r) => [r.id, r.label]),
    [
      ['e', 1],
      ['f', -3],
    ],
  );
  assert.deepEqual(skipped, [
    { line: 2, id: 'a', reason: 'label "abc" is not a number' },
    { line: 3, id: 'b', reason: 'label "" is not a number' },
    { line: 4, id: 'c', reason: 'label 7 is outside [-3, 3]' },
    { line: 5, id: 'd', reason: '2 fields where the header has 3' },
  ]);
});

test('a missing column or an empty file is a clear error', () => {
  assert.throws(() => rowsOf('id,text\na,x\n'), /t\.csv: no column "label" in the header \(columns: id, text\); name the right one with --label-column/);
  assert.throws(() => rowsOf('key,text,label\na,x,1\n'), /no column "id".*nor video_id and clip_id; name the id column with --id-column/);
  assert.throws(() => rowsOf('sentence,score\n', { textColumn: 'sentence', labelColumn: 'score' }), /no column "id"/);
  assert.deepEqual(rowsOf('id,sentence,score\nq,x,1\n', { textColumn: 'sentence', labelColumn: 'score' }).rows[0], { id: 'q', text: 'x', label: 1, line: 2 });
  assert.throws(() => rowsOf(''), /t\.csv is empty: expected a header row with the columns id,text,label/);
});

test('files over the size or row limit are refused before parsing everything', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-eval-'));
  try {
    const file = path.join(dir, 'big.csv');
    await writeFile(file, 'id,text,label\na,x,1\nb,y,2\nc,z,3\n');
    await assert.rejects(readLabelledCsv(file, { maxBytes: 10 }), /big\.csv: \d+ bytes is over the limit of 10 bytes/);
    await assert.rejects(readLabelledCsv(file, { maxRows: 2 }), /more than 3 records/);
    assert.equal((await readLabelledCsv(file, { maxRows: 3 })).rows.length, 3);
    await assert.rejects(readLabelledCsv(path.join(dir, 'none.csv')), /none\.csv: cannot read the CSV \(ENOENT\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const goodManifest = {
  name: 'msa-sentiment',
  version: '1.0.0',
  kind: 'sentiment',
  file: 'model.onnx',
  tokenizer: 'tokenizer',
  maxTextTokens: 64,
  acousticPad: 32,
  visualPad: 32,
  codebooks: null,
  metrics: { mosi_dev: { mae: 0.9 } },
  inputs: ['input_ids', 'attention_mask', 'acoustic_ids', 'acoustic_mask', 'visual_ids', 'visual_mask'],
  outputs: ['score', 'contributions'],
  somethingExtra: { kept: true },
};

test('manifest: paths resolve against its folder; extra fields are kept', () => {
  const m = parseManifest(goodManifest, '/srv/models/manifest.json');
  assert.equal(m.modelPath, '/srv/models/model.onnx');
  assert.equal(m.tokenizerPath, '/srv/models/tokenizer');
  assert.deepEqual(m.padIndex, { acoustic: 32, visual: 32 });
  assert.deepEqual((m.raw as Record<string, unknown>).somethingExtra, { kept: true });
  const fromSizes = parseManifest(
    { ...goodManifest, acousticPad: undefined, visualPad: undefined, codebooks: { acoustic: { size: 16 }, visual: { size: 24 } } },
    '/m/manifest.json',
  );
  assert.deepEqual(fromSizes.padIndex, { acoustic: 16, visual: 24 });
});

test('manifest: the shape training/export.py writes is accepted', () => {
  const contract = (names: string[], dtype: string) => names.map((name) => ({ name, dtype, shape: ['B', 'T'] }));
  const exported = {
    name: 'msa-minilm-cenet',
    version: '0.1.0',
    kind: 'sentiment',
    file: 'msa-minilm-cenet.int8.onnx',
    inputs: contract(['input_ids', 'attention_mask', 'acoustic_ids', 'acoustic_mask', 'visual_ids', 'visual_mask'], 'int64'),
    outputs: contract(['score', 'contributions'], 'float32'),
    maxTextTokens: 64,
    tokenizer: 'tokenizer',
    tokenizerInfo: { type: 'BertTokenizer (WordPiece, uncased)', padTokenId: 0, clsTokenId: 101, sepTokenId: 102 },
    acousticPad: 32,
    visualPad: 32,
    codebooks: { acoustic: null, visual: null, note: 'no codebooks fitted yet' },
    metrics: {},
    licences: { data: [{ name: 'CMU-MOSI', licence: 'none stated' }] },
    training: { modelConfig: { max_text_tokens: 64 } },
  };
  const m = parseManifest(exported, '/repo/models/manifest.json');
  assert.equal(m.modelPath, '/repo/models/msa-minilm-cenet.int8.onnx');
  assert.equal(m.tokenizerPath, '/repo/models/tokenizer');
  assert.deepEqual(m.padIndex, { acoustic: 32, visual: 32 });
  assert.equal(m.maxTextTokens, 64);
});

test('manifest: errors name the file and the field', async () => {
  assert.throws(
    () => parseManifest({ ...goodManifest, maxTextTokens: '64' }, '/m/manifest.json'),
    /\/m\/manifest\.json is invalid: maxTextTokens: Expected number, received string/,
  );
  assert.throws(() => parseManifest({ ...goodManifest, kind: 'other' }, '/m/manifest.json'), /kind: Invalid enum value/);
  assert.throws(() => parseManifest({ ...goodManifest, visualPad: undefined }, '/m/manifest.json'), /visualPad: required \(or codebooks\.visual\.size\)/);
  assert.throws(() => parseManifest({ ...goodManifest, inputs: ['input_ids'] }, '/m/manifest.json'), /inputs: \[input_ids\] lacks attention_mask/);
  assert.throws(
    () => parseManifest({ ...goodManifest, codebooks: { acoustic: { size: 8 } } }, '/m/manifest.json'),
    /acousticPad 32 differs from codebooks\.acoustic size 8/,
  );
  await assert.rejects(loadManifest('/nonexistent/manifest.json'), /model manifest \/nonexistent\/manifest\.json cannot be read \(ENOENT\)/);
});

/** Length-as-id tokenizer and a session that scores a row by its first content id. */
const fakeTokenizer: TextTokenizer = {
  folder: '(test)',
  encode: (texts, max) => {
    const inputIds = texts.map((t) =>
      [
        101,
        ...t
          .split(' ')
          .filter(Boolean)
          .map((w) => w.length),
      ]
        .slice(0, max - 1)
        .concat(102),
    );
    return { inputIds, attentionMask: inputIds.map((r) => r.map(() => 1)) };
  },
  countTokens: (t) => t.split(' ').filter(Boolean).length + 2,
};

test('scoreRows batches by length and returns scores in row order', async () => {
  const batches: ModelInput[][] = [];
  const session = {
    run: async (inputs: readonly ModelInput[]): Promise<ModelOutput[]> => {
      batches.push([...inputs]);
      return inputs.map((x) => ({ score: x.inputIds.length === 2 ? 0 : x.inputIds[1]! / 10, contributions: { text: 0, audio: 0, video: 0 } }));
    },
  };
  const rows = ['aaa bb c', 'a', 'aa b', '', 'aaaa'].map((text, i) => ({ id: `r${i}`, text, label: 1, line: i + 2 }));
  const progress: number[] = [];
  const scored = await scoreRows(rows, {
    tokenizer: fakeTokenizer,
    session,
    maxTextTokens: 64,
    padIndex: { acoustic: 32, visual: 8 },
    batchSize: 2,
    onProgress: (done) => progress.push(done),
  });
  assert.deepEqual(
    scored.map((s) => [s.id, s.score]),
    [
      ['r0', 0.3],
      ['r1', 0.1],
      ['r2', 0.2],
      ['r3', 0],
      ['r4', 0.4],
    ],
  );
  assert.deepEqual(
    batches.map((b) => b.map((x) => x.inputIds.length)),
    [[2, 3], [3, 4], [5]],
  );
  assert.deepEqual(batches[0]![0]!.acousticIds, [32]);
  assert.deepEqual(batches[0]![0]!.visualMask, [0]);
  assert.deepEqual(progress, [2, 4, 5]);
});

test('output formats: JSON keys, table, and the scores CSV', () => {
  const scored = [
    { id: 'a,1', label: 2.4, score: 1.5 },
    { id: 'b', label: -1, score: -0.5 },
  ];
  const metrics = metricsOf(scored);
  const json = metricsJson(metrics);
  assert.deepEqual(Object.keys(json), ['n', 'acc2_has0', 'acc2_non0', 'f1_has0', 'f1_non0', 'acc5', 'acc7', 'mae', 'corr']);
  assert.equal(json.acc2_has0, 100);
  assert.ok(Math.abs(json.mae! - (Math.fround(2.4) - 1.5 + 0.5) / 2) < 1e-12);
  assert.equal(metricsJson({ ...metrics, corr: NaN }).corr, null);
  const table = metricsTable({ csv: 'x', model: { name: 'm', version: '1', kind: 'test', provider: 'cpu' }, metrics, scored, skipped: [] });
  assert.match(table, /^Acc-2 has0 \/ non0 +100\.00 \/ 100\.00$/m);
  assert.match(table, /^rows +2 scored, 0 skipped$/m);
  assert.equal(scoresCsv(scored), 'id,label,score\n"a,1",2.4,1.5\nb,-1,-0.5\n');
});

test('shipped manifests: the multimodal one has a name of its own (scores say which served them), the same version and graph', async () => {
  const words = await loadManifest(path.join(REPO_ROOT, 'models', 'manifest.json'));
  const multimodal = await loadManifest(path.join(REPO_ROOT, 'models', 'manifest.multimodal.json'));
  assert.equal(words.name, 'msa-minilm-cenet');
  assert.equal(multimodal.name, 'msa-minilm-cenet-multimodal');
  assert.equal(multimodal.version, words.version);
  assert.equal(multimodal.modelPath, words.modelPath);
});

test('modalitiesRead: text always, voice and face only with a codebook file (what /healthz reports as reads)', async () => {
  const words = await loadManifest(path.join(REPO_ROOT, 'models', 'manifest.json'));
  const multimodal = await loadManifest(path.join(REPO_ROOT, 'models', 'manifest.multimodal.json'));
  assert.deepEqual(modalitiesRead(words), { text: true, audio: false, video: false });
  assert.deepEqual(modalitiesRead(multimodal), { text: true, audio: true, video: true });
  assert.deepEqual(modalitiesRead({ codebookFiles: { acoustic: '/m/a.json', visual: null } }), { text: true, audio: true, video: false });
});
