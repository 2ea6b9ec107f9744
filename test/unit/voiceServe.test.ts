// @needs python (scripts/test.mjs prepares the training venv for this file)
// The voice values Node serves per utterance equal the Python recipe that trained the reader, on real
// RAVDESS clips (one utterance each, as the training rows are): log-mel of the utterance alone,
// block 2 of the Whisper encoder (Python: the study's PyTorch port, training/experiments/whisper_encoder.py,
// sized as reader.json's padding says by voice_trim.py, which made the training features), mean over the covered positions, running normaliser and ridge (normalise.py, reader.json). The
// Node side runs the ONNX encoder through src/voice/encoder.ts with reader.json's padding; the
// recogniser's shared run (Transcript.voice) gives the same vectors as the encoder alone for trim sizing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAudio } from '../../src/media/ffmpeg/index.js';
import { loadGraph } from '../../src/model/ort.js';
import { VoiceSession } from '../../src/model/voiceReader.js';
import { loadServedVoiceReader, parseServedVoiceReader, voiceTerm } from '../../src/voice/index.js';
import { parseVoicePadding, poolUtterances, sharesEncoderRun, voiceEncoderFrames } from '../../src/voice/encoder.js';
import { loadWhisper, parseDecodingMode } from '../../src/speech/whisper/recognizer.js';
import { N_MELS } from '../../src/speech/whisper/mel.js';
import { silentLogger } from '../../src/log.js';
import { repoRoot, venvPython } from '../fixtures/env.js';
import { modelDir, sharedData } from '../fixtures/whisper.js';

const READER = join(repoRoot, 'models', 'voice', 'reader.json');
// One actor (01, male): neutral, happy, sad, angry; then actor 02 (female) happy, angry.
const CLIPS = ['03-01-01-01-01-01-01', '03-01-03-02-01-01-01', '03-01-04-02-01-01-01', '03-01-05-02-01-01-01'].map((id) => sharedData('ravdess', `${id}.flac`));

const PY = `
import json, sys
import numpy as np
from pathlib import Path
from training.experiments.voice_trim import encoder_upto, trimmed_block_features
from training.experiments.normalise import running_normalise_session
reader_path, model_dir, *files = sys.argv[1:]
r = json.load(open(reader_path))
pad = r["representation"]["padding"]
multiple, margin = (0, 0) if pad == "none" else map(int, pad.split(":")[1:])
enc = encoder_upto(Path(model_dir), 2)
pooled = []
for f in files:
    audio = np.fromfile(f, dtype=np.float32)
    b2 = trimmed_block_features(enc, audio, multiple, margin)[r["representation"]["layer"] - 1]
    pooled.append(b2 if r["representation"]["pooling"] == "meanstd" else b2[: len(b2) // 2])  # (mean, std) or the mean
x = np.array(pooled, dtype=np.float64)
n, rd = r["normaliser"], r["reader"]
z = running_normalise_session(x, np.array(n["prior_mean"]), np.array(n["prior_std"]), n["n0"])
y = np.clip(((z - np.array(rd["x_mean"])) / np.array(rd["x_std"])) @ np.array(rd["coef"]) + rd["intercept"], -3, 3)
print(json.dumps({"pooled": x.tolist(), "values": y.tolist()}))
`;

test('per-utterance voice values of real RAVDESS clips: Node (ONNX encoder) equals the Python training recipe', async () => {
  const served = await loadServedVoiceReader(READER);
  assert.ok(served.padding.kind !== '30s', 'this test reads the shipped reader (padding none or trim)');
  const dir = await modelDir(served.model);
  const encoder = await loadGraph({ path: join(dir, 'encoder.onnx'), executionProvider: 'cpu', intraOpThreads: 1, logger: silentLogger });
  try {
    const audio = await Promise.all(CLIPS.map((f) => decodeAudio(f, { sampleRate: 16_000 })));
    const block2 = async (mel: Float32Array, batch: number, frames: number) =>
      (await encoder.run({ mel: { type: 'float32', data: mel, dims: [batch, N_MELS, frames] } }, ['block2'])).block2!.data as Float32Array;
    const pooled = await poolUtterances(block2, audio, served.padding, served.pooling, served.width, 8);
    const session = new VoiceSession(served.reader);
    const ours = pooled.map((x) => session.score(x!));

    const tmp = mkdtempSync(join(tmpdir(), 'msa-voice-'));
    const files = audio.map((a, i) => {
      const f = join(tmp, `${i}.f32`);
      writeFileSync(f, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
      return f;
    });
    const py = JSON.parse(execFileSync(venvPython, ['-c', PY, READER, dir, ...files], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 })) as {
      pooled: number[][];
      values: number[];
    };
    pooled.forEach((x, k) => {
      const ref = py.pooled[k]!;
      const scale = Math.max(...ref.map(Math.abs));
      const worst = Math.max(...ref.map((r, i) => Math.abs(r - x![i]!)));
      assert.ok(worst < 2e-3 * scale, `clip ${k}: pooled block2 differs by ${worst} (scale ${scale})`);
    });
    ours.forEach((v, k) => assert.ok(Math.abs(v - py.values[k]!) < 0.02, `clip ${k}: node ${v}, python ${py.values[k]}`));
    assert.ok(new Set(ours.map((v) => v.toFixed(3))).size === ours.length, `values differ per clip: ${ours.join(', ')}`);
  } finally {
    await encoder.release();
  }
});

test('trim sizing: the recogniser run pools the same block2 vectors as the encoder alone (one pass for both jobs)', async () => {
  const dir = await modelDir('tiny.en');
  const whisper = await loadWhisper({ model: 'tiny.en', dir, intraOpThreads: 1, decoding: 'trim:100:50+guard4', logger: silentLogger });
  try {
    const padding = parseVoicePadding('trim:100:50');
    assert.ok(sharesEncoderRun(padding, whisper.decoding));
    assert.ok(!sharesEncoderRun(parseVoicePadding('none'), whisper.decoding));
    assert.ok(!sharesEncoderRun(padding, parseDecodingMode('trim:100:0')));
    const audio = await Promise.all(CLIPS.slice(0, 2).map((f) => decodeAudio(f, { sampleRate: 16_000 })));
    const shared = await whisper.transcribe(audio, { voice: 'meanstd' });
    const alone = await poolUtterances((mel, b, t) => whisper.encodeBlock2(mel, b, t), audio, padding, 'meanstd', 384, 8);
    assert.equal(alone[0]!.length, 768, 'mean then standard deviation');
    assert.ok(
      alone[0]!.subarray(384).every((x) => x > 0),
      'a standard deviation over positions is positive',
    );
    shared.forEach((t, k) => {
      assert.ok(t.text.length > 0, 'transcribed too');
      const a = alone[k]!;
      const worst = Math.max(...a.map((x, i) => Math.abs(x - t.voice![i]!)));
      assert.ok(worst < 1e-4, `clip ${k}: shared run differs from the encoder alone by ${worst}`);
    });
    assert.equal(voiceEncoderFrames(333, padding), 400);
    assert.equal(voiceEncoderFrames(333, parseVoicePadding('none')), 333);
  } finally {
    await whisper.release();
  }
});

test('reader.json for serving: fusion weight read or defaulted to 1, bad files refused naming the path and the value', async () => {
  const ok = {
    representation: { model: 'tiny.en', layer: 2, pooling: 'mean', padding: 'none' },
    normaliser: { n0: 4, prior_mean: [0, 0], prior_std: [1, 1] },
    reader: { coef: [1, 1], intercept: 0, x_mean: [0, 0], x_std: [1, 1] },
  };
  const d = parseServedVoiceReader(ok, 'r.json');
  assert.equal(d.weight, 1);
  assert.equal(d.weightDefaulted, true);
  const w = parseServedVoiceReader({ ...ok, fusion: { weight: 0.4 } }, 'r.json');
  assert.deepEqual([w.weight, w.weightDefaulted], [0.4, false]);
  assert.throws(
    () => parseServedVoiceReader({ ...ok, fusion: { weight: -1 } }, 'r.json'),
    /voice reader r\.json: fusion\.weight must be a number >= 0, got -1/,
  );
  assert.throws(() => parseServedVoiceReader({ ...ok, representation: { ...ok.representation, padding: 'pad' } }, 'r.json'), /representation\.padding "pad"/);
  assert.throws(() => parseServedVoiceReader({ ...ok, representation: { ...ok.representation, layer: 3 } }, 'r.json'), /representation\.layer 3/);
  assert.deepEqual([d.pooling, d.width], ['mean', 2]);
  const ms = parseServedVoiceReader({ ...ok, representation: { ...ok.representation, pooling: 'meanstd' } }, 'r.json');
  assert.deepEqual([ms.pooling, ms.width], ['meanstd', 1], 'mean then std: the encoder width is half the dimension');
  assert.throws(
    () => parseServedVoiceReader({ ...ok, representation: { ...ok.representation, pooling: 'max' } }, 'r.json'),
    /representation\.pooling "max": expected mean or meanstd/,
  );
  const odd = {
    ...ok,
    normaliser: { n0: 4, prior_mean: [0, 0, 0], prior_std: [1, 1, 1] },
    reader: { coef: [1, 1, 1], intercept: 0, x_mean: [0, 0, 0], x_std: [1, 1, 1] },
  };
  assert.throws(
    () => parseServedVoiceReader({ ...odd, representation: { ...ok.representation, pooling: 'meanstd' } }, 'r.json'),
    /meanstd needs an even dimension/,
  );
  await assert.rejects(loadServedVoiceReader('/nonexistent/reader.json'), /voice reader \/nonexistent\/reader\.json cannot be read \(config voice\.reader\)/);
  assert.equal(voiceTerm(2.5, 0.5), 0.5);
  assert.equal(voiceTerm(-0.4, 1), -0.4);
});
