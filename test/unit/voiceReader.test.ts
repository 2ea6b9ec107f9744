// @needs python (scripts/test.mjs prepares the training venv for this file)
// Parity: the Node voice reader (src/model/voiceReader.ts) and the Python recipe that fitted it
// (training/experiments/normalise.py running_normalise_session + voice_reader.py's ridge) give the
// same scores for the same session of pooled vectors, from the first utterance on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { loadVoiceReader, parseVoiceReader, VoiceSession, meanPool } from '../../src/model/voiceReader.js';
import { repoRoot, venvPython } from '../fixtures/env.js';
import { seededRandom } from '../fixtures/windows.js';

const READER = join(repoRoot, 'models', 'voice', 'reader.json');

const PY = `
import json, sys
import numpy as np
from training.experiments.normalise import running_normalise_session
r = json.load(open(sys.argv[1]))
x = np.array(json.load(sys.stdin), dtype=np.float64)
n, rd = r["normaliser"], r["reader"]
z = running_normalise_session(x, np.array(n["prior_mean"]), np.array(n["prior_std"]), n["n0"])
y = ((z - np.array(rd["x_mean"])) / np.array(rd["x_std"])) @ np.array(rd["coef"]) + rd["intercept"]
print(json.dumps(np.clip(y, -3, 3).tolist()))
`;

test('Node and Python score the same session of voice vectors alike (running normaliser + ridge)', async () => {
  const reader = await loadVoiceReader(READER);
  assert.equal(reader.dim, 768, 'block 2 of tiny.en (width 384), mean then standard deviation');
  const rand = seededRandom(7);
  // Six utterances of one "speaker": prior-like vectors with a shared offset (a voice) and noise.
  const offset = Array.from({ length: reader.dim }, () => (rand(1000) / 1000 - 0.5) * 2);
  const session = Array.from({ length: 6 }, () =>
    Array.from({ length: reader.dim }, (_, i) => reader.priorMean[i]! + reader.priorStd[i]! * (offset[i]! + (rand(1000) / 1000 - 0.5))),
  );
  const node = new VoiceSession(reader);
  const ours = session.map((x) => node.score(x));
  const theirs = JSON.parse(execFileSync(venvPython, ['-c', PY, READER], { cwd: repoRoot, input: JSON.stringify(session), encoding: 'utf8' })) as number[];
  assert.equal(theirs.length, ours.length);
  ours.forEach((y, k) => assert.ok(Math.abs(y - theirs[k]!) < 1e-9, `utterance ${k + 1}: node ${y}, python ${theirs[k]}`));
  assert.ok(new Set(ours.map((y) => y.toFixed(6))).size > 1, 'scores vary with the input');
  assert.equal(node.utterances, 6);
});

test('mean pooling over the covered positions of one batch row; bad readers and vectors are refused by name', () => {
  const block2 = Float32Array.from([1, 2, 3, 4, 5, 6, 100, 100, /* row 1 */ 7, 8, 9, 10, 11, 12, 13, 14]);
  assert.deepEqual([...meanPool(block2, 0, 4, 2, 3)], [3, 4]);
  assert.deepEqual([...meanPool(block2, 1, 4, 2, 2)], [8, 9]);
  assert.throws(() => meanPool(block2, 0, 4, 2, 5), /pool over 5 positions of 4/);
  assert.throws(() => parseVoiceReader({ normaliser: { n0: 0 }, reader: { coef: [1], intercept: 0 } }), /normaliser.n0 must be a positive number, got 0/);
  const ok = { normaliser: { n0: 4, prior_mean: [0, 0], prior_std: [1, 1] }, reader: { coef: [1, 1], intercept: 0, x_mean: [0, 0], x_std: [1, 1] } };
  assert.throws(() => parseVoiceReader({ ...ok, normaliser: { ...ok.normaliser, prior_std: [1] } }), /normaliser.prior_std has 1 values, expected 2/);
  const s = new VoiceSession(parseVoiceReader(ok));
  assert.throws(() => s.score([1]), /voice vector has 1 values, the reader expects 2/);
  assert.throws(() => s.score([1, Number.NaN]), /voice vector value 1 is NaN/);
});
