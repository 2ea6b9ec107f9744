/**
 * The streaming resampler (features/acoustic/resample.ts): a stream cut into uneven chunks gives
 * the samples of the one-shot resampling, aligned in time (no click, gap or shift at chunk edges),
 * of the right length, at the right pitch by the project's own pitch tracker; its WASM state is
 * freed by dispose().
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concatFloat32 } from '../../src/arrays.js';
import { extractAcoustic, pitchSummary, StreamingResampler } from '../../src/features/acoustic/index.js';

const OUT = 16_000;
const HZ = 220;

/** A 220 Hz sine at `rate`, amplitude 0.3. */
function sine(rate: number, seconds: number): Float32Array {
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, n) => 0.3 * Math.sin((2 * Math.PI * HZ * n) / rate));
}

/** Resamples `pcm` pushed in chunks of `lengths` samples (cycled), then flushed; notes how far the output lags the input after each push. */
function inChunks(pcm: Float32Array, rate: number, lengths: number[]): { out: Float32Array; lag: number[]; delay: number } {
  const r = new StreamingResampler(rate, OUT);
  try {
    const parts: Float32Array[] = [];
    const lag: number[] = [];
    let pushed = 0;
    let got = 0;
    for (let at = 0, i = 0; at < pcm.length; i++) {
      const n = Math.min(lengths[i % lengths.length]!, pcm.length - at);
      const part = r.push(pcm.subarray(at, at + n));
      parts.push(part);
      pushed += n;
      got += part.length;
      at += n;
      lag.push(Math.floor((pushed * OUT) / rate) - got);
    }
    parts.push(r.flush());
    return { out: concatFloat32(parts), lag, delay: r.delay };
  } finally {
    r.dispose();
  }
}

describe('StreamingResampler', () => {
  for (const rate of [8000, 44_100, 48_000]) {
    it(`${rate} Hz -> 16 kHz in uneven chunks equals the one-shot resampling, in time and at 220 Hz`, (t) => {
      const pcm = sine(rate, 2);
      const oneShot = inChunks(pcm, rate, [pcm.length]).out;
      const { out, lag, delay } = inChunks(pcm, rate, [37, 1000, 333, 1, 4410, 160]);

      // Length: every input second gives 16000 samples; before the flush the output lags by at most the delay.
      assert.equal(out.length, Math.ceil((pcm.length * OUT) / rate));
      assert.equal(oneShot.length, out.length);
      assert.ok(Math.max(...lag) <= delay + 1 && Math.min(...lag) >= 0, `lag ${Math.min(...lag)}..${Math.max(...lag)} samples, delay ${delay}`);

      // Chunk edges change nothing (measured: bit for bit).
      let maxDiff = 0;
      for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i]! - oneShot[i]!));
      assert.ok(maxDiff < 1e-6, `chunked vs one-shot: max difference ${maxDiff}`);

      // Against the ideal 16 kHz sine: no click, gap or time shift anywhere (the first and last
      // 10 ms see the filter's zero padding).
      let maxErr = 0;
      for (let j = 160; j < out.length - 160; j++) maxErr = Math.max(maxErr, Math.abs(out[j]! - 0.3 * Math.sin((2 * Math.PI * HZ * j) / OUT)));
      t.diagnostic(
        `${rate} Hz: delay ${delay} samples (${((delay * 1000) / OUT).toFixed(1)} ms), max |chunked - one-shot| ${maxDiff}, max |out - ideal sine| ${maxErr.toExponential(2)}`,
      );
      assert.ok(maxErr < 1e-5, `max error against the ideal sine ${maxErr} (0.3 amplitude)`);

      const { voicedFraction, f0MedianHz } = pitchSummary(extractAcoustic(out));
      assert.ok(voicedFraction > 0.9, `voiced ${voicedFraction}`);
      assert.ok(Math.abs(f0MedianHz! - HZ) / HZ < 0.01, `median F0 ${f0MedianHz}`);
    });
  }

  it('the ends of the accepted range and an odd ratio (8 kHz .. 96 kHz, 11.025 kHz) give 16000 samples a second, rounded up', () => {
    for (const rate of [96_000, 11_025]) {
      const pcm = sine(rate, 0.5);
      const { out, lag, delay } = inChunks(pcm, rate, [1920, 37]);
      assert.equal(out.length, Math.ceil((pcm.length * OUT) / rate), `${rate} Hz: ${pcm.length} samples in`);
      assert.ok(Math.max(...lag) <= delay + 1, `${rate} Hz: lag ${Math.max(...lag)}, delay ${delay}`);
    }
  });

  it('dispose frees the state once; using a disposed or flushed stream, or a bad rate, throws naming it', () => {
    const before = StreamingResampler.live;
    const r = new StreamingResampler(48_000, OUT);
    assert.equal(StreamingResampler.live, before + 1);
    r.push(new Float32Array(480));
    r.flush();
    assert.throws(() => r.push(new Float32Array(480)), /48000 -> 16000 Hz\): push after flush\(\)/);
    r.dispose();
    r.dispose();
    assert.equal(StreamingResampler.live, before);
    assert.equal(r.disposed, true);
    assert.throws(() => r.push(new Float32Array(1)), /push after dispose\(\)/);
    assert.throws(() => new StreamingResampler(44_100.5, OUT), /inRate must be an integer in 1\.\.1000000 Hz, got 44100\.5/);
    assert.throws(() => new StreamingResampler(8000, OUT, { quality: 11 }), /quality must be an integer in 0\.\.10, got 11/);
    assert.equal(StreamingResampler.live, before);
  });
});
