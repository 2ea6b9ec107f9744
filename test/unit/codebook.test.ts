import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fitCodebook, fitNormalisedCodebook, loadCodebook, normaliseSequence, Quantiser, saveCodebook, standardisation } from '../../src/features/codebook.js';
import { featurize, type FeatureRecord } from '../../src/features/featurize.js';
import { ACOUSTIC_DIM, ACOUSTIC_FEATURES } from '../../src/features/acoustic/index.js';
import { runCodebookFit } from '../../src/cli/commands/codebook.js';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'msa-codebook-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Points around three centres whose columns live on very different scales. */
function blobs(n: number): { vectors: number[][]; truth: number[] } {
  const centres = [
    [0, 1000, 0.01],
    [5, 3000, 0.02],
    [10, 2000, 0.03],
  ];
  let s = 7;
  const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2;
  const vectors: number[][] = [];
  const truth: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    vectors.push(centres[c]!.map((x, j) => x + rnd() * [1, 200, 0.002][j]!));
    truth.push(c);
  }
  return { vectors, truth };
}

describe('codebooks', () => {
  it('standardises columns to mean 0, std 1 (constant columns stay finite)', () => {
    const { mean, std } = standardisation(
      [
        [1, 5],
        [3, 5],
      ],
      2,
    );
    assert.deepEqual(mean, [2, 5]);
    assert.equal(std[0], 1);
    assert.ok(std[1]! > 0 && std[1]! < 1e-6);
  });

  it('fits, saves, loads and quantises: each blob maps to one index', async () => {
    const { vectors, truth } = blobs(300);
    const names = ['a', 'b', 'c'];
    const cb = fitCodebook(vectors, { modality: 'acoustic', featureNames: names, k: 3, seed: 1 });
    assert.equal(cb.version, 1);
    assert.deepEqual([cb.k, cb.dim, cb.centroids.length], [3, 3, 3]);
    const path = join(tmp, 'cb', 'acoustic.json');
    await saveCodebook(path, cb);
    const loaded = await loadCodebook(path);
    const q = new Quantiser(loaded);
    const byBlob = new Map<number, Set<number>>();
    vectors.forEach((v, i) => (byBlob.get(truth[i]!) ?? byBlob.set(truth[i]!, new Set()).get(truth[i]!)!).add(q.quantise(v)));
    assert.deepEqual(
      [...byBlob.values()].map((s) => s.size),
      [1, 1, 1],
      'one index per blob',
    );
    assert.equal(new Set([...byBlob.values()].map((s) => [...s][0])).size, 3, 'distinct indices');
    assert.deepEqual(q.quantiseSequence([vectors[0]!, null]), [q.quantise(vectors[0]!), 3]);
    // same data and seed, same codebook
    assert.deepEqual(fitCodebook(vectors, { modality: 'acoustic', featureNames: names, k: 3, seed: 1 }).centroids, cb.centroids);
  });

  it('gates a sequence unlike the training data: no ids when its median distance is over the limit', async () => {
    const { vectors } = blobs(300);
    const cb = fitCodebook(vectors, { modality: 'acoustic', featureNames: ['a', 'b', 'c'], k: 3, seed: 1 });
    const open = new Quantiser(cb);
    const near = vectors.slice(0, 5);
    const far = near.map((v) => v.map((x) => x + 1000));
    const dNear = open.quantiseGated(near).medianDistance!;
    const dFar = open.quantiseGated(far).medianDistance!;
    assert.ok(dFar > 10 * dNear, `far ${dFar} vs near ${dNear}`);
    assert.equal(open.quantiseGated(far).gated, false, 'no gate in the codebook: never gated');
    const path = join(tmp, 'gated.json');
    await saveCodebook(path, { ...cb, gate: { maxMedianDistance: (dNear + dFar) / 2, statistic: 'test', fittedOn: 'test' } });
    const gated = new Quantiser(await loadCodebook(path));
    assert.deepEqual(gated.quantiseGated(near), { ids: near.map((v) => open.quantise(v)), medianDistance: dNear, gated: false });
    assert.deepEqual(gated.quantiseGated(far), { ids: [], medianDistance: dFar, gated: true });
    // the median decides: two far vectors among three near ones stay in
    assert.equal(gated.quantiseGated([...near.slice(0, 3), ...far.slice(0, 2)]).gated, false);
    assert.deepEqual(gated.quantiseGated([]), { ids: [], medianDistance: null, gated: false });
  });

  it('normalises a sequence with its own statistics shrunk towards the prior', () => {
    // n0 = 2 prior vectors (mean 0, std 1) and [1], [3]: mean (0 + 4) / 4 = 1, var (2 (1 + 0) + 10) / 4 - 1 = 2
    // (training/tests/test_nonverbal.py holds the same case for the Python side)
    const [a, b] = normaliseSequence([[1], [3]], { priorVectors: 2, mean: [0], std: [1] });
    assert.equal(a![0], 0);
    assert.ok(Math.abs(b![0]! - Math.SQRT2) < 1e-15, String(b![0]));
    const long = Array.from({ length: 1000 }, (_, i) => [100 + 7 * Math.sin(i)]);
    const z = normaliseSequence(long, { priorVectors: 1, mean: [0], std: [1] }).map((v) => v[0]!);
    const mean = z.reduce((s, x) => s + x, 0) / z.length;
    assert.ok(Math.abs(mean) < 0.2, `a long sequence is centred on itself, mean ${mean}`);
    const prior = normaliseSequence([[12]], { priorVectors: 1e9, mean: [10], std: [2] });
    assert.ok(Math.abs(prior[0]![0]! - 1) < 1e-6, 'a heavy prior gives the prior z-score');
    assert.throws(() => normaliseSequence([[1, 2]], { priorVectors: 1, mean: [0], std: [1] }), /has 2 values, the sequence normalisation expects 1/);
  });

  it('with sequence normalisation, a sequence through another channel (offset and gain) keeps its ids', () => {
    const { vectors } = blobs(600);
    const sequences = Array.from({ length: 10 }, (_, i) => vectors.slice(i * 60, i * 60 + 60));
    const options = { modality: 'acoustic' as const, featureNames: ['a', 'b', 'c'], k: 3, seed: 1 };
    const normed = new Quantiser(fitNormalisedCodebook(sequences, 1, options));
    const plain = new Quantiser(fitCodebook(vectors, options));
    const seq = vectors.slice(0, 60);
    const channel = seq.map((v) => v.map((x, j) => x * 1.3 + [6, 900, 0.01][j]!));
    const ids = normed.quantiseGated(seq).ids;
    assert.equal(new Set(ids).size, 3, 'the three blobs stay apart');
    assert.deepEqual(normed.quantiseGated(channel).ids, ids);
    assert.notDeepEqual(plain.quantiseGated(channel).ids, plain.quantiseGated(seq).ids, 'without it the channel moves the ids');
    assert.throws(() => fitNormalisedCodebook(sequences, 0, options), /positive prior weight, got 0/);
  });

  it('refuses bad artifacts and wrong dimensions with clear errors', async () => {
    const path = join(tmp, 'bad.json');
    await writeFile(path, JSON.stringify({ version: 99 }));
    await assert.rejects(loadCodebook(path), /not a version 1 codebook/);
    const cb = fitCodebook(blobs(30).vectors, { modality: 'visual', featureNames: ['a', 'b', 'c'], k: 2 });
    assert.throws(() => new Quantiser(cb).quantise([1, 2]), /has 2 values, the codebook expects 3/);
    assert.throws(() => fitCodebook([[1, 2, 3]], { modality: 'visual', featureNames: ['a', 'b', 'c'], k: 2 }), /k=2 on 1 vectors/);
    await saveCodebook(path, { ...cb, sequenceNorm: { priorVectors: 4, mean: [0, 0], std: [1, 1] } });
    await assert.rejects(loadCodebook(path), /sequenceNorm has 2 means and 2 stds, expected dim=3/);
  });

  it('featurize writes one JSON line per row with media, reports missing media, and codebook fit reads it', async () => {
    const media = join(tmp, 'media');
    await mkdir(media, { recursive: true });
    for (const [id, hz] of [
      ['a', 180],
      ['b', 260],
    ] as const) {
      execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=3`, join(media, `${id}.wav`)]);
    }
    await writeFile(join(media, 'c.wav'), 'not audio at all');
    const csv = join(tmp, 'label.csv');
    await writeFile(csv, 'id,text,label,mode\na,"hello, there",1.5,train\nb,bye,-2,train\nc,broken,0,train\nd,no media,0.5,train\n');
    const out = join(tmp, 'out');
    const s = await featurize({ csv, mediaDir: media, outDir: out, video: false });
    assert.equal(s.rows, 4);
    assert.equal(s.written, 2);
    assert.deepEqual(s.missing, ['d']);
    assert.deepEqual(
      s.failed.map((f) => f.id),
      ['c'],
    );
    const lines = (await readFile(join(out, 'features.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as FeatureRecord);
    assert.deepEqual(
      lines.map((l) => [l.id, l.text, l.label]),
      [
        ['a', 'hello, there', 1.5],
        ['b', 'bye', -2],
      ],
    );
    assert.equal(lines[0]!.acoustic.length, 12);
    assert.equal(lines[0]!.acoustic[0]!.length, ACOUSTIC_DIM);
    assert.deepEqual(lines[0]!.acousticNames, [...ACOUSTIC_FEATURES]);
    assert.deepEqual(lines[0]!.visual, []);
    const summary = JSON.parse(await readFile(join(out, 'featurize-summary.json'), 'utf8')) as { missing: string[] };
    assert.deepEqual(summary.missing, ['d']);
    const cb = await runCodebookFit({ input: [out], modality: 'acoustic', k: 2, seed: 3, out: join(tmp, 'acoustic.json'), maxVectors: 1000 });
    assert.equal(cb.fittedOn.vectors, 24);
    const q = new Quantiser(await loadCodebook(join(tmp, 'acoustic.json')));
    const ia = new Set(lines[0]!.acoustic.slice(1, -1).map((v) => q.quantise(v)));
    const ib = new Set(lines[1]!.acoustic.slice(1, -1).map((v) => q.quantise(v)));
    assert.equal(ia.size, 1);
    assert.equal(ib.size, 1);
    assert.notDeepEqual([...ia], [...ib], 'two tones, two acoustic words');
    const normed = await runCodebookFit({
      input: [out],
      modality: 'acoustic',
      k: 2,
      seed: 3,
      out: join(tmp, 'acoustic-normed.json'),
      maxVectors: 1000,
      sequenceNorm: 8,
    });
    const saved = await loadCodebook(join(tmp, 'acoustic-normed.json'));
    assert.equal(saved.sequenceNorm?.priorVectors, 8);
    assert.deepEqual(saved.sequenceNorm?.mean, standardisation([...lines[0]!.acoustic, ...lines[1]!.acoustic], ACOUSTIC_DIM).mean);
    assert.equal(normed.fittedOn.vectors, 24);
  });
});
