/**
 * Telephone audio that arrives upsampled (src/speech/bandwidth.ts, src/speech/cutter.ts): the band
 * probe tells RAVDESS through a G.711 channel, upsampled to 16 kHz, from the same file wideband,
 * decides alike however the signal is chunked, waits for enough signal and gives up on silence;
 * the cutter then runs the VAD's 8 kHz branch for such audio, unless told not to.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BANDWIDTH_OPTIONS, BandwidthProbe } from '../../src/speech/bandwidth.js';
import { decodeSpeech } from '../../src/speech/audio.js';
import { newUtteranceCutter } from '../../src/speech/cutter.js';
import { DEFAULT_UTTERANCE_OPTIONS } from '../../src/speech/utterances.js';
import { loadSileroVad, type SileroVad } from '../../src/speech/vad.js';
import { upsampledTelephoneWav } from '../fixtures/speech.js';
import { sharedData, testLogger } from '../fixtures/whisper.js';

const FILES = ['03-01-04-01-02-01-01.flac', '03-01-06-01-01-02-09.flac', '03-01-01-01-01-01-12.flac'];

function probe(signal: Float32Array, chunk = signal.length): BandwidthProbe {
  const p = new BandwidthProbe();
  for (let at = 0; at < signal.length; at += chunk) p.push(signal.subarray(at, at + chunk));
  return p;
}

describe('band probe', () => {
  let wide: Float32Array[];
  let narrow: Float32Array[];
  before(async () => {
    wide = await Promise.all(FILES.map((f) => decodeSpeech(sharedData('ravdess', f))));
    narrow = await Promise.all(FILES.map((f, i) => decodeSpeech(upsampledTelephoneWav(`band${i}`, sharedData('ravdess', f)))));
  });

  it('RAVDESS wideband is wide, the same files through the telephone channel at 16 kHz are narrow, with a wide margin', () => {
    for (const [i, x] of wide.entries()) {
      const p = probe(x);
      assert.equal(p.band, 'wide', `${FILES[i]}: ${p.ratioDb} dB`);
      assert.ok(p.ratioDb! > BANDWIDTH_OPTIONS.thresholdDb + 5, `${FILES[i]}: ${p.ratioDb} dB`);
    }
    for (const [i, x] of narrow.entries()) {
      const p = probe(x);
      assert.equal(p.band, 'narrow', `${FILES[i]} upsampled: ${p.ratioDb} dB`);
      assert.ok(p.ratioDb! < BANDWIDTH_OPTIONS.thresholdDb - 5, `${FILES[i]} upsampled: ${p.ratioDb} dB`);
    }
  });

  it('the same decision, on the same ratio, however the signal is chunked', () => {
    for (const x of [...wide, ...narrow]) {
      const whole = probe(x);
      for (const chunk of [160, 511, 1600, 3200]) {
        const p = probe(x, chunk);
        assert.equal(p.band, whole.band);
        assert.equal(p.ratioDb, whole.ratioDb);
      }
    }
  });

  it('a signal shorter than decideAfterMs is decided at its end (finish), on the frames it has', () => {
    for (const [x, band] of [
      [wide[0]!, 'wide'],
      [narrow[0]!, 'narrow'],
    ] as const) {
      const p = probe(x.subarray(0, 16_000 * 1.8));
      assert.equal(p.band, null);
      p.finish();
      assert.equal(p.band, band);
    }
    const silent = probe(new Float32Array(16_000));
    silent.finish();
    assert.equal(silent.done, true);
    assert.equal(silent.band, null, 'too little signal: no decision');
  });

  it('no decision before decideAfterMs of signal; none at all on silence (it gives up after giveUpAfterMs)', () => {
    const p = new BandwidthProbe();
    p.push(wide[0]!.subarray(0, (16_000 * BANDWIDTH_OPTIONS.decideAfterMs) / 1000 - 512));
    assert.equal(p.band, null);
    assert.equal(p.done, false);
    const silent = new BandwidthProbe();
    silent.push(new Float32Array((16_000 * BANDWIDTH_OPTIONS.giveUpAfterMs) / 1000 - 512));
    assert.equal(silent.done, false, 'still listening just before giveUpAfterMs');
    silent.push(new Float32Array(1024));
    assert.equal(silent.done, true);
    assert.equal(silent.band, null);
  });
});

describe('the cutter runs the 8 kHz branch for telephone audio that arrives upsampled', () => {
  let vad: SileroVad;
  before(async () => {
    vad = await loadSileroVad({ logger: testLogger });
  });
  after(async () => {
    await vad?.release();
  });

  const options = { ...DEFAULT_UTTERANCE_OPTIONS, rate: 'auto' as const };
  const cutAll = async (cutter: ReturnType<typeof newUtteranceCutter>, x: Float32Array) => {
    const out = [];
    for (let at = 0; at < x.length; at += 1600) out.push(...(await cutter.push(x.subarray(at, at + 1600))));
    return [...out, ...(await cutter.flush())];
  };

  it('the branch follows the band; the audio held meanwhile is cut, and held as undecided', async () => {
    const narrow = await decodeSpeech(upsampledTelephoneWav('cut-narrow', sharedData('ravdess', FILES[0]!)));
    const cutter = newUtteranceCutter(vad, options, 16_000);
    assert.equal(cutter.branch(), null, 'undecided before any audio');
    assert.deepEqual(await cutter.push(narrow.subarray(0, 8000)), []);
    assert.equal(cutter.branch(), null);
    assert.equal(cutter.openSinceMs(), 0, 'the held audio holds the windows from its start');
    const utterances = await cutAll(cutter, narrow.subarray(8000));
    assert.equal(cutter.branch(), 8000);
    assert.equal(utterances.length, 1);
    // The utterance keeps its place in the whole signal: held audio is cut as if it had gone straight through.
    const direct = newUtteranceCutter(vad, { ...options, rate: 8000 }, 16_000);
    const expected = await cutAll(direct, narrow);
    assert.deepEqual(
      utterances.map((u) => [u.startMs, u.endMs]),
      expected.map((u) => [u.startMs, u.endMs]),
    );
  });

  it('wideband audio stays on the 16 kHz branch; 8 kHz audio and a fixed rate are not probed; detectNarrowband false turns it off', async () => {
    const wide = await decodeSpeech(sharedData('ravdess', FILES[0]!));
    const narrow = await decodeSpeech(upsampledTelephoneWav('cut-off', sharedData('ravdess', FILES[0]!)));
    const w = newUtteranceCutter(vad, options, 48_000);
    await cutAll(w, wide);
    assert.equal(w.branch(), 16_000);
    assert.equal(newUtteranceCutter(vad, options, 8000).branch(), 8000, 'known at once');
    assert.equal(newUtteranceCutter(vad, { ...options, rate: 16_000 }, 16_000).branch(), 16_000);
    const off = newUtteranceCutter(vad, { ...options, detectNarrowband: false }, 16_000);
    assert.equal(off.branch(), 16_000, 'known at once');
    await cutAll(off, narrow);
    assert.equal(off.branch(), 16_000);
  });

  it('while the cutter goes through the held audio, that audio still holds the windows (openSinceMs stays 0)', async () => {
    const narrow = await decodeSpeech(upsampledTelephoneWav('cut-race', sharedData('ravdess', FILES[0]!)));
    const cutter = newUtteranceCutter(vad, options, 16_000);
    await cutter.push(narrow.subarray(0, 16_000 * 1.9)); // held: the probe waits for 2 s
    let done = false;
    const deciding = cutter.push(narrow.subarray(16_000 * 1.9, 16_000 * 2.2)).finally(() => (done = true));
    const seen = new Set<number | null>();
    while (!done) {
      seen.add(cutter.openSinceMs());
      await new Promise((r) => setImmediate(r));
    }
    await deciding;
    assert.deepEqual([...seen], [0], 'undecided from the start until the cutter has been through it');
    assert.equal(cutter.branch(), 8000);
  });

  it('audio that ends before the probe decided (a short file) is decided at the flush', async () => {
    const narrow = await decodeSpeech(upsampledTelephoneWav('cut-short', sharedData('ravdess', FILES[0]!)));
    const cutter = newUtteranceCutter(vad, options, 16_000);
    await cutter.push(narrow.subarray(0, 16_000 * 1.8));
    assert.equal(cutter.branch(), null);
    await cutter.flush();
    assert.equal(cutter.branch(), 8000);
  });

  it('silence gives up listening and keeps the branch by rate', async () => {
    const cutter = newUtteranceCutter(vad, options, 16_000);
    assert.deepEqual(await cutAll(cutter, new Float32Array(16_000 * 11)), []);
    assert.equal(cutter.branch(), 16_000);
  });
});
