/**
 * Whisper's log-mel (speech/whisper/mel.ts) against the Python reference's test vectors
 * (models/whisper/test_vectors.json `mel`, `trimmed_frames`, and the sample's first frame),
 * and the mixed-radix DFT against a direct DFT.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeSpeech } from '../../src/speech/audio.js';
import { logMel, melFilters, RealDft, trimmedFrames, copyFrames, N_MELS } from '../../src/speech/whisper/mel.js';
import { sharedData, vectors } from '../fixtures/whisper.js';

describe('whisper log-mel', () => {
  it('the slaney filters match librosa (row sums and sampled values)', () => {
    const f = melFilters();
    const [rows, cols] = vectors.mel.filters_shape;
    assert.equal(f.length, rows * cols);
    for (let m = 0; m < rows; m++) {
      let sum = 0;
      for (let k = 0; k < cols; k++) sum += f[m * cols + k]!;
      assert.ok(Math.abs(sum - vectors.mel.filters_row_sums[m]!) < 1e-6, `row ${m}: ${sum} vs ${vectors.mel.filters_row_sums[m]}`);
    }
    for (const [m, k, v] of vectors.mel.filters_at) assert.ok(Math.abs(f[m * cols + k]! - v) < 1e-7, `filter [${m}, ${k}] = ${f[m * cols + k]}, want ${v}`);
  });

  it('the 400-point DFT equals a direct DFT', () => {
    const n = 400;
    const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + 0.3 * Math.cos(i * 1.91) + (i % 7) / 7);
    const power = new Float64Array(n / 2 + 1);
    new RealDft(n).powerSpectrum(x, power);
    for (let k = 0; k <= n / 2; k++) {
      let re = 0;
      let im = 0;
      for (let j = 0; j < n; j++) {
        re += x[j]! * Math.cos((2 * Math.PI * j * k) / n);
        im -= x[j]! * Math.sin((2 * Math.PI * j * k) / n);
      }
      const want = re * re + im * im;
      assert.ok(Math.abs(power[k]! - want) <= 1e-9 * Math.max(1, want), `bin ${k}: ${power[k]} vs ${want}`);
    }
  });

  it('features of the vector signal match within 1e-4, and the max over all frames', () => {
    const signal = Float32Array.from(vectors.mel.signal_int16, (s) => s / 32768);
    const mel = logMel(signal);
    assert.equal(mel.frames, vectors.mel.n_frames);
    assert.ok(Math.abs(mel.log10Max - vectors.mel.log10_max_over_all_frames) < 1e-4, `m = ${mel.log10Max}`);
    let worst = 0;
    for (let m = 0; m < N_MELS; m++) {
      for (let f = 0; f < mel.frames; f++) worst = Math.max(worst, Math.abs(mel.data[m * mel.frames + f]! - vectors.mel.features[m]![f]!));
    }
    assert.ok(worst < 1e-4, `largest difference ${worst}`);
  });

  it('the sample wav gives the reference content frames, first frame and sum', async () => {
    const v = vectors.models['tiny.en']!;
    const audio = await decodeSpeech(sharedData(v.sample));
    assert.equal(audio.length, v.n_samples);
    const mel = logMel(audio);
    assert.equal(mel.frames, v.n_content_frames);
    for (let m = 0; m < 8; m++) assert.ok(Math.abs(mel.data[m * mel.frames]! - v.features_first_frame_first8[m]!) < 1e-4, `bin ${m} of frame 0`);
    const sum = mel.data.reduce((s, x) => s + x, 0);
    assert.ok(Math.abs(sum - v.features_sum) < 0.05, `sum ${sum} vs ${v.features_sum}`);
  });

  it('trimmed encoder lengths', () => {
    for (const c of vectors.trimmed_frames) assert.equal(trimmedFrames(c.content_frames, c.multiple, c.margin), c.T, JSON.stringify(c));
    assert.throws(() => trimmedFrames(10, 99, 0), /multiple must be an even integer >= 2, got 99/);
  });

  it('copyFrames pads with 0.0 and cuts windows', () => {
    const mel = logMel(Float32Array.from({ length: 1600 }, (_, i) => Math.sin(i / 5) * 0.1));
    assert.equal(mel.frames, 10);
    const out = new Float32Array(N_MELS * 12);
    copyFrames(mel, 4, 12, out, 0);
    assert.equal(out[0], mel.data[4]);
    assert.equal(out[5], mel.data[9]);
    assert.equal(out[6], 0);
    assert.equal(out[12 * 3 + 1], mel.data[10 * 3 + 5]);
  });

  it('refuses a signal shorter than one frame', () => {
    assert.throws(() => logMel(new Float32Array(100)), /at least 160 samples .* got 100/);
  });
});
