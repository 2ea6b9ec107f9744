/**
 * The pipeline's feature stage: streaming acoustic frames equal the offline extractor's, a
 * window's ids are pooled and quantised in event time, the video stage keeps each session's order
 * under bounded concurrency, and the manifest rule (no codebooks -> nothing extracted, not used).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { firstValueFrom, from, Subject, toArray } from 'rxjs';
import {
  ACOUSTIC_DIM,
  ACOUSTIC_FEATURES,
  ACOUSTIC_FRAME_DIM,
  ACOUSTIC_FRAME_FEATURES,
  AcousticExtractor,
  frameIndex,
  StreamingResampler,
} from '../../src/features/acoustic/index.js';
import { decodeAudio } from '../../src/media/ffmpeg/index.js';
import { CODEBOOK_VERSION, Quantiser, type Codebook } from '../../src/features/codebook.js';
import { VISUAL_DIM, VISUAL_FEATURES } from '../../src/features/visual/index.js';
import { loadManifestCodebooks } from '../../src/features/codebook.js';
import { parseManifest } from '../../src/model/manifest.js';
import { buildWindowInput } from '../../src/model/windowInputs.js';
import { silentLogger } from '../../src/log.js';
import type { AudioChunk, InputRecord, VideoFrame } from '../../src/schemas/records.js';
import type { Positioned, SessionWindow } from '../../src/windows/types.js';
import { AcousticFrameStream, s16ToFloat } from '../../src/features/acoustic/frameStream.js';
import { keepSessionOrder, type KeepSessionOrderState } from '../../src/operators/keepSessionOrder.js';
import { loadImageDecoder } from '../../src/media/image.js';
import { FaceVectors, LIVE_AGE_MS, VISUAL_FEATURE_SET, type FaceSource } from '../../src/features/visual/faceVectors.js';
import { createPipelineFeatures } from '../../src/features/stage.js';
import { subsample } from '../../src/arrays.js';
import { windowAcousticVectors, windowNonVerbal } from '../../src/features/nonVerbal.js';
import { dataDir } from '../fixtures/env.js';

const T0 = 1_760_000_000_000; // a multiple of 1 s: windows and pooling intervals align
const RATE = 16_000;

/** s16 PCM: a 220 Hz sine (with a little noise) where `loud(t)` holds, near-silence elsewhere. */
function pcm16(seconds: number, loud: (t: number) => boolean, seed = 3): Int16Array {
  let s = seed;
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647 - 0.5;
  const out = new Int16Array(Math.round(seconds * RATE));
  for (let n = 0; n < out.length; n++) {
    const t = n / RATE;
    const v = (loud(t) ? 0.3 * Math.sin(2 * Math.PI * 220 * t) : 0) + 0.002 * rnd();
    out[n] = Math.round(v * 32767);
  }
  return out;
}

/** Cuts PCM at `rate` into chunks of the given lengths (ms, cycled; rounded to samples), stamped from `t0`. */
function chunksOf(pcm: Int16Array, lengthsMs: number[], sessionId = 's', t0 = T0, rate = RATE): AudioChunk[] {
  const chunks: AudioChunk[] = [];
  for (let at = 0, i = 0; at < pcm.length; i++) {
    const n = Math.min(pcm.length - at, Math.round((lengthsMs[i % lengthsMs.length]! * rate) / 1000));
    const part = pcm.subarray(at, at + n);
    chunks.push({
      sessionId,
      seq: i,
      eventTime: t0 + (at * 1000) / rate,
      sampleRate: rate,
      encoding: 'S16LE',
      samples: Buffer.from(part.buffer, part.byteOffset, part.byteLength),
      endOfStream: false,
    });
    at += n;
  }
  return chunks;
}

const toFloat = (pcm: Int16Array) => Float32Array.from(pcm, (x) => x / 32768);

function windowOf(audio: AudioChunk[], video: VideoFrame[], start = T0, end = T0 + 6000): SessionWindow {
  return { sessionId: 's', start, end, audio, video, transcript: [], positions: [], closedAt: 0 };
}

function codebook(modality: 'acoustic' | 'visual', centroids: number[][], names: readonly string[]): Codebook {
  const dim = names.length;
  return {
    version: CODEBOOK_VERSION,
    modality,
    k: centroids.length,
    dim,
    featureNames: [...names],
    mean: new Array<number>(dim).fill(0),
    std: new Array<number>(dim).fill(1),
    centroids,
    fittedOn: { vectors: 0, sources: [], seed: 0, iterations: 0, inertia: 0, createdAt: '' },
  };
}

function frame(eventTime: number, over: Partial<VideoFrame> = {}, sessionId = 's'): VideoFrame {
  return {
    sessionId,
    seq: 0,
    eventTime,
    format: 'RGB24',
    width: 4,
    height: 2,
    data: Buffer.alloc(4 * 2 * 3, 7),
    features: [],
    featureSet: null,
    facePresent: null,
    endOfStream: false,
    ...over,
  };
}

describe('streaming acoustic frames', () => {
  it('equal the offline extractor frame for frame, whatever the chunk lengths', () => {
    const pcm = pcm16(3, (t) => t > 0.5 && t < 2.2);
    const offline = new AcousticExtractor().extract(toFloat(pcm));
    for (const lengths of [[100], [20], [200, 20, 60, 35]]) {
      const stream = new AcousticFrameStream();
      const chunks = chunksOf(pcm, lengths);
      chunks[chunks.length - 1]!.endOfStream = true;
      const frames: number[] = [];
      const times: number[] = [];
      for (const c of chunks) {
        assert.equal(stream.accept(c), null);
        const f = stream.framesOf(c);
        if (f) {
          frames.push(...f.frames);
          times.push(...f.times);
        }
      }
      assert.equal(times.length, offline.frameCount, `chunks of ${lengths.join('/')} ms: every frame once`);
      assert.deepEqual(Float32Array.from(frames), offline.frames, `chunks of ${lengths.join('/')} ms: the same numbers as featurize`);
      times.forEach((t, k) => assert.ok(Math.abs(t - (T0 + k * 10 + 12.5)) < 1e-6, `frame ${k} centred at ${t - T0} ms`));
      assert.equal(stream.openSessions, 0, 'endOfStream frees the session');
    }
  });

  it('restarts at a gap, and counts rates outside 8..96 kHz and other encodings as unsupported', () => {
    const stream = new AcousticFrameStream();
    const pcm = pcm16(1, () => true);
    const first = chunksOf(pcm, [100]);
    const later = chunksOf(pcm, [100], 's', T0 + 5000);
    for (const c of [...first, ...later]) stream.accept(c);
    assert.equal(stream.stats.restarts, 1);
    assert.ok(stream.framesOf(later[1]!)!.times[0]! > T0 + 5000, 'frames after the gap are timed from the new chunks');
    for (const sampleRate of [4000, 7999, 96_001, 192_000, 44_100.5, 0])
      assert.equal(stream.accept({ ...first[0]!, sampleRate }), 'sample-rate', `${sampleRate} Hz`);
    assert.equal(stream.accept({ ...first[0]!, encoding: 'F32' as never }), 'encoding');
    assert.deepEqual(stream.stats.unsupported, { 'sample-rate': 6, encoding: 1 });
    assert.equal(stream.stats.restarts, 1, 'an unsupported chunk leaves the stream as it was');
    assert.deepEqual([...s16ToFloat(Buffer.from([0x00, 0x80, 0xff, 0x7f, 0x01]))], [-1, 32767 / 32768]);
  });
});

/**
 * A speech-like signal sampled at `rate`, the same continuous-time signal at every rate (nothing
 * at or above `maxHz`): voiced syllables 4 a second (F0 gliding 110..190 Hz, harmonics falling
 * 6 dB/octave, smooth onsets), a pause over [1.5, 2) s, and under it all a noise floor at about
 * -60 dBFS (400 steady tones at pseudo-random frequencies), so that s16 rounding noise (-101 dBFS,
 * which differs with the rate) decides no feature.
 */
function speechLike(seconds: number, rate: number, maxHz = 7000): Int16Array {
  const x = new Float64Array(Math.round(seconds * rate));
  const glide = 0.7; // Hz: F0 = 150 + 40 sin(2 pi glide t)
  for (let n = 0; n < x.length; n++) {
    const t = n / rate;
    const phase = 2 * Math.PI * 150 * t - (40 / glide) * Math.cos(2 * Math.PI * glide * t);
    const envelope = t >= 1.5 && t < 2 ? 0 : Math.sin(2 * Math.PI * 2 * t) ** 2;
    let v = 0;
    for (let k = 1; k * 190 < maxHz; k++) v += Math.sin(k * phase) / k;
    x[n] = 0.1 * envelope * v;
  }
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const tones = 400;
  const amplitude = 0.001 / Math.sqrt(tones / 2);
  for (let j = 0; j < tones; j++) {
    const w = (2 * Math.PI * (50 + rnd() * (maxHz - 100))) / rate;
    const [cw, sw] = [Math.cos(w), Math.sin(w)];
    let [c, s] = [Math.cos(2 * Math.PI * rnd()), Math.sin(2 * Math.PI * rnd())];
    for (let n = 0; n < x.length; n++) {
      x[n] = x[n]! + amplitude * s;
      [c, s] = [c * cw - s * sw, s * cw + c * sw];
    }
  }
  return Int16Array.from(x, (v) => Math.round(v * 32767));
}

/** Float PCM (an ffmpeg decode) -> S16, as ffmpeg converts it. */
const toS16 = (pcm: Float32Array) => Int16Array.from(pcm, (x) => Math.max(-32768, Math.min(32767, Math.round(x * 32768))));

interface Streamed {
  stream: AcousticFrameStream;
  chunks: AudioChunk[];
  times: number[];
  frames: Float32Array;
}

/** Feeds a session's chunks (the last one ends the stream) and collects its frames in order. */
function streamed(chunks: AudioChunk[], stream = new AcousticFrameStream()): Streamed {
  chunks[chunks.length - 1]!.endOfStream = true;
  const times: number[] = [];
  const frames: number[] = [];
  for (const c of chunks) {
    assert.equal(stream.accept(c), null, `${c.sampleRate} Hz is analysed`);
    const f = stream.framesOf(c);
    if (f) {
      times.push(...f.times);
      frames.push(...f.frames);
    }
  }
  return { stream, chunks, times, frames: Float32Array.from(frames) };
}

/** The session's 250 ms pooled vectors (what the codebook quantises), as the scoring hook pools them. */
const pooled = (s: Streamed) => windowAcousticVectors(windowOf(s.chunks, [], T0, T0 + 6000), (c) => s.stream.framesOf(c));

/** Per feature: mean |a - b| over the rows, in units of the feature's spread (std) in `a`. */
function relativeDiffs(a: ArrayLike<number>, b: ArrayLike<number>, dim: number): number[] {
  const rows = Math.floor(a.length / dim);
  return Array.from({ length: dim }, (_, d) => {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += a[r * dim + d]! / rows;
    let variance = 0;
    let diff = 0;
    for (let r = 0; r < rows; r++) {
      variance += (a[r * dim + d]! - mean) ** 2 / rows;
      diff += Math.abs(a[r * dim + d]! - b[r * dim + d]!) / rows;
    }
    return variance > 0 ? diff / Math.sqrt(variance) : diff;
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** The features that differ most, and by how much. */
function worst(diffs: number[], names: readonly string[], n = 1): string {
  return diffs
    .map((x, d) => ({ x, d }))
    .sort((a, b) => b.x - a.x)
    .slice(0, n)
    .map(({ x, d }) => `${names[d]} ${x.toFixed(3)}`)
    .join(', ');
}

/** Median F0 over the voiced frames, the voiced fraction, and the mean log energy. */
function voiceOf(frames: Float32Array): { f0: number; voiced: number; energyDb: number } {
  const rows = frames.length / ACOUSTIC_FRAME_DIM;
  const at = (r: number, name: (typeof ACOUSTIC_FRAME_FEATURES)[number]) => frames[r * ACOUSTIC_FRAME_DIM + frameIndex(name)]!;
  const f0s: number[] = [];
  let energyDb = 0;
  for (let r = 0; r < rows; r++) {
    if (at(r, 'voiced') > 0) f0s.push(at(r, 'f0_hz'));
    energyDb += at(r, 'log_energy_db') / rows;
  }
  return { f0: median(f0s), voiced: f0s.length / rows, energyDb };
}

describe('audio at other rates, resampled to 16 kHz per session', () => {
  const twins = new Map<number, Streamed>();
  const nativeOf = (maxHz: number) => twins.get(maxHz) ?? twins.set(maxHz, streamed(chunksOf(speechLike(3, RATE, maxHz), [100, 20, 35]))).get(maxHz)!;

  for (const [rate, maxHz] of [
    [48_000, 7000],
    [44_100, 7000],
    [8000, 3400],
  ] as const) {
    it(`${rate} Hz: frames at the event times of the 16 kHz twin, equal to the offline extractor on the whole signal resampled in one piece`, () => {
      const live = StreamingResampler.live;
      const pcm = speechLike(3, rate, maxHz);
      const session = streamed(chunksOf(pcm, [20, 100, 35, 60], 's', T0, rate));
      assert.equal(session.stream.stats.resampled, session.chunks.length, 'every chunk was resampled');
      assert.equal(session.stream.openResamplers, 0, 'endOfStream freed the resampler');
      assert.equal(StreamingResampler.live, live, 'nothing left in the WASM heap');

      // Chunk edges are invisible: the same numbers as resampling and extracting the whole signal.
      const whole = new StreamingResampler(rate, RATE);
      const resampled = Float32Array.from([...whole.push(s16ToFloat(Buffer.from(pcm.buffer))), ...whole.flush()]);
      whole.dispose();
      const offline = new AcousticExtractor().extract(resampled);
      assert.equal(session.times.length, offline.frameCount);
      assert.deepEqual(session.frames, offline.frames);

      // Times come from sample counts, not from the resampler: those of the 16 kHz twin.
      const native = nativeOf(maxHz);
      assert.equal(session.times.length, native.times.length);
      const maxDt = Math.max(...session.times.map((x, k) => Math.abs(x - native.times[k]!)));
      assert.ok(maxDt < 1e-6, `frame times differ from the 16 kHz twin's by up to ${maxDt} ms`);
    });
  }

  // Measured (speex quality 8, the voice above, 3 s), each feature's mean difference from the
  // 16 kHz twin in units of its spread, 48 / 44.1 kHz alike: frames median 0.002, all but one
  // within 0.01; pooled vectors median 0.001, all but one within 0.01; median F0 and voiced
  // fraction equal. The one is spectral flatness (0.18 frames, 0.20 pooled): a geometric mean
  // over every bin, it is decided by the top ~0.3 kHz below 8 kHz, which the anti-alias filter
  // removes and where the 16 kHz twin holds only s16 rounding noise.
  const flatness = new Set(['spectral_flatness', 'spectral_flatness_mean']);
  const within = (diffs: number[], names: readonly string[]) => diffs.every((x, d) => x < (flatness.has(names[d]!) ? 0.3 : 0.02));
  for (const rate of [48_000, 44_100]) {
    it(`${rate} Hz: the frames and pooled vectors of the 16 kHz twin, closely`, (t) => {
      const native = nativeOf(7000);
      const session = streamed(chunksOf(speechLike(3, rate, 7000), [20, 100, 35, 60], 's', T0, rate));
      const frameDiffs = relativeDiffs(native.frames, session.frames, ACOUSTIC_FRAME_DIM);
      const a = pooled(native);
      const b = pooled(session);
      assert.deepEqual(b.startTimes, a.startTimes);
      const pooledDiffs = relativeDiffs(a.vectors.flat(), b.vectors.flat(), ACOUSTIC_DIM);
      const va = voiceOf(native.frames);
      const vb = voiceOf(session.frames);
      t.diagnostic(
        `${rate} Hz vs 16 kHz: frames worst ${worst(frameDiffs, ACOUSTIC_FRAME_FEATURES, 3)}, median ${median(frameDiffs).toFixed(4)}; pooled worst ${worst(pooledDiffs, ACOUSTIC_FEATURES, 3)}, median ${median(pooledDiffs).toFixed(4)}; F0 ${va.f0.toFixed(2)} / ${vb.f0.toFixed(2)} Hz, voiced ${va.voiced.toFixed(3)} / ${vb.voiced.toFixed(3)}`,
      );
      assert.ok(within(frameDiffs, ACOUSTIC_FRAME_FEATURES), `frames: worst ${worst(frameDiffs, ACOUSTIC_FRAME_FEATURES, 3)}`);
      assert.ok(within(pooledDiffs, ACOUSTIC_FEATURES), `pooled: worst ${worst(pooledDiffs, ACOUSTIC_FEATURES, 3)}`);
      assert.ok(Math.abs(va.f0 - vb.f0) < 0.5, `median F0 ${va.f0} vs ${vb.f0} Hz`);
      assert.ok(Math.abs(va.voiced - vb.voiced) < 0.01, `voiced fraction ${va.voiced} vs ${vb.voiced}`);
    });
  }

  it('8 kHz (telephone band): the voice of the 16 kHz twin', (t) => {
    // Above 4 kHz an 8 kHz call has nothing and the 16 kHz twin only its s16 rounding noise, so
    // the spectral shape differs there by nature; pitch, voicing and energy must not.
    const native = nativeOf(3400);
    const session = streamed(chunksOf(speechLike(3, 8000, 3400), [20, 100, 35, 60], 's', T0, 8000));
    const va = voiceOf(native.frames);
    const vb = voiceOf(session.frames);
    const energy = frameIndex('log_energy_db');
    let maxDb = 0;
    for (let r = 0; r < native.times.length; r++)
      maxDb = Math.max(maxDb, Math.abs(native.frames[r * ACOUSTIC_FRAME_DIM + energy]! - session.frames[r * ACOUSTIC_FRAME_DIM + energy]!));
    t.diagnostic(
      `8 kHz vs 16 kHz: F0 ${va.f0.toFixed(2)} / ${vb.f0.toFixed(2)} Hz, voiced ${va.voiced.toFixed(3)} / ${vb.voiced.toFixed(3)}, frame energy within ${maxDb.toFixed(3)} dB`,
    );
    assert.ok(Math.abs(va.f0 - vb.f0) < 0.5, `median F0 ${va.f0} vs ${vb.f0} Hz`);
    assert.ok(Math.abs(va.voiced - vb.voiced) < 0.01, `voiced fraction ${va.voiced} vs ${vb.voiced}`);
    assert.ok(maxDb < 0.5, `frame energy differs by up to ${maxDb} dB`);
  });

  it("real speech at 48 kHz (the wav, upsampled by ffmpeg) and 44.1 kHz (the mp4's own rate): the voice of ffmpeg's 16 kHz decode", async (t) => {
    for (const [file, rate] of [
      ['03bSnISJMiM_1.wav', 48_000],
      ['Oz06ZWiO20M_6.mp4', 44_100],
    ] as const) {
      const path = join(dataDir, 'samples', file);
      if (!existsSync(path)) {
        t.diagnostic(`${path} is not there: skipped`);
        continue;
      }
      const native = streamed(chunksOf(toS16(await decodeAudio(path, { sampleRate: RATE })), [100], 'native'));
      const session = streamed(chunksOf(toS16(await decodeAudio(path, { sampleRate: rate })), [20], 'resampled', T0, rate));
      const rows = Math.min(native.times.length, session.times.length);
      assert.ok(Math.abs(native.times.length - session.times.length) <= 1, `${native.times.length} vs ${session.times.length} frames`);
      assert.ok(
        session.times.slice(0, rows).every((x, k) => Math.abs(x - native.times[k]!) < 1e-6),
        'at the same times',
      );
      const va = voiceOf(native.frames.subarray(0, rows * ACOUSTIC_FRAME_DIM));
      const vb = voiceOf(session.frames.subarray(0, rows * ACOUSTIC_FRAME_DIM));
      const frameDiffs = relativeDiffs(native.frames.subarray(0, rows * ACOUSTIC_FRAME_DIM), session.frames, ACOUSTIC_FRAME_DIM);
      t.diagnostic(
        `${file} at ${rate} Hz vs ffmpeg's 16 kHz: F0 ${va.f0.toFixed(2)} / ${vb.f0.toFixed(2)} Hz, voiced ${va.voiced.toFixed(3)} / ${vb.voiced.toFixed(3)}; frames worst ${worst(frameDiffs, ACOUSTIC_FRAME_FEATURES, 3)}, median ${median(frameDiffs).toFixed(4)}`,
      );
      assert.ok(Math.abs(va.f0 - vb.f0) / va.f0 < 0.01, `${file}: median F0 ${va.f0} vs ${vb.f0} Hz`);
      assert.ok(Math.abs(va.voiced - vb.voiced) < 0.02, `${file}: voiced fraction ${va.voiced} vs ${vb.voiced}`);
      assert.ok(median(frameDiffs) < 0.1, `${file}: median feature difference ${median(frameDiffs)}`);
    }
  });

  it('the feature stage: 8 and 48 kHz sessions analysed, a rate change restarts the stream, rates outside 8..96 kHz counted and named once; every resampler freed', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write: (chunk: Buffer, _e, cb) => {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    const live = StreamingResampler.live;
    const tone = new AcousticExtractor().extract(toFloat(pcm16(1, () => true))).pooled;
    const expired$ = new Subject<string>();
    const features = createPipelineFeatures({
      codebooks: { acoustic: codebook('acoustic', [tone[0]!, tone[2]!], ACOUSTIC_FEATURES), visual: null },
      windowSizeMs: 6000,
      expired$,
      logger,
    });
    const asRecords = (chunks: AudioChunk[]): Positioned<InputRecord>[] => chunks.map((value) => ({ value: { kind: 'audio', value } }));
    const telephone = chunksOf(speechLike(1, 8000, 3400), [20], 'tel', T0, 8000);
    const browser = [...chunksOf(speechLike(0.5, 48_000), [20], 'web', T0, 48_000), ...chunksOf(speechLike(0.5, 44_100), [20], 'web', T0 + 500, 44_100)];
    const odd = [4000, 4000, 192_000].map((sampleRate, i) => ({ ...telephone[0]!, sessionId: `odd-${i}`, sampleRate }));

    const source = new Subject<Positioned<InputRecord>>();
    const out: Positioned<InputRecord>[] = [];
    source.pipe(features.extract).subscribe((r) => out.push(r));
    for (const r of asRecords([...telephone, ...browser, ...odd])) source.next(r);
    assert.equal(out.length, telephone.length + browser.length + odd.length, 'every record passes on');

    const audio = features.stats.audio;
    assert.equal(audio.resampled, telephone.length + browser.length);
    assert.equal(audio.restarts, 1, '48 -> 44.1 kHz mid-session starts a fresh stream');
    assert.deepEqual(audio.unsupported, { 'sample-rate': 3, encoding: 0 });
    const warned = lines.map((l) => (JSON.parse(l) as { msg: string }).msg).filter((m) => /is not analysed/.test(m));
    assert.equal(warned.length, 2, 'once per rate');
    assert.match(warned[0]!, /^audio at 4000 Hz is not analysed .*only integer rates from 8000 to 96000 Hz are resampled to it/);
    assert.match(warned[1]!, /^audio at 192000 Hz is not analysed/);
    assert.equal(features.nonVerbal!(windowOf(telephone, [])).acousticIds.length, 4, 'the 8 kHz second gives its 4 ids');
    assert.equal(features.nonVerbal!(windowOf(browser, [])).acousticIds.length, 4, 'the 48 + 44.1 kHz second gives its 4 ids');

    assert.equal(StreamingResampler.live, live + 2, 'tel and web (44.1 kHz) hold one; the 48 kHz one was freed at the restart');
    expired$.next('tel');
    assert.equal(StreamingResampler.live, live + 1, 'an expired session frees its resampler');
    source.complete();
    assert.equal(StreamingResampler.live, live, 'tearing the stage down frees the rest');
  });

  it('a session dropped for maxSessions frees its resampler', () => {
    const live = StreamingResampler.live;
    const stream = new AcousticFrameStream({ maxSessions: 1 });
    stream.accept(chunksOf(speechLike(0.1, 48_000), [20], 'a', T0, 48_000)[0]!);
    stream.accept(chunksOf(speechLike(0.1, 8000, 3400), [20], 'b', T0, 8000)[0]!);
    assert.equal(stream.openSessions, 1);
    assert.equal(StreamingResampler.live, live + 1);
    stream.endAll();
    assert.equal(StreamingResampler.live, live);
  });
});

describe("a window's non-verbal ids", () => {
  // 2 s window: a tone in the first second, near-silence in the second.
  const pcm = pcm16(2, (t) => t < 1);
  const stream = new AcousticFrameStream();
  const audio = chunksOf(pcm, [100]);
  audio[audio.length - 1]!.endOfStream = true;
  for (const c of audio) stream.accept(c);
  const window = windowOf(audio, [], T0, T0 + 2000);
  const pooled = windowAcousticVectors(window, (c) => stream.framesOf(c));
  const energy = ACOUSTIC_FEATURES.indexOf('log_energy_db_mean');
  const f0 = ACOUSTIC_FEATURES.indexOf('f0_hz_mean');

  it('pools frames into 250 ms intervals aligned to event time', () => {
    assert.deepEqual(
      pooled.startTimes,
      Array.from({ length: 8 }, (_, i) => T0 + i * 250),
    );
    for (const v of pooled.vectors) assert.equal(v.length, ACOUSTIC_DIM);
    for (let i = 0; i < 4; i++) {
      assert.ok(Math.abs(pooled.vectors[i]![f0]! - 220) < 5, `interval ${i}: F0 ${pooled.vectors[i]![f0]}`);
      assert.ok(pooled.vectors[i]![energy]! > -20);
    }
    for (let i = 5; i < 8; i++) assert.ok(pooled.vectors[i]![energy]! < -50, `interval ${i} is silent`);
  });

  it('quantises each interval: tone -> 1, silence -> 0, and caps the count evenly', () => {
    // A hand-made codebook: centroid 0 = the silent interval, 1 = a tone interval.
    const cb = codebook('acoustic', [pooled.vectors[7]!, pooled.vectors[1]!], ACOUSTIC_FEATURES);
    const q = new Quantiser(cb);
    const ids = windowNonVerbal(window, { acoustic: { quantiser: q, framesOf: (c) => stream.framesOf(c) }, visual: null, maxIds: 24 });
    assert.deepEqual(ids, { acousticIds: [1, 1, 1, 1, 0, 0, 0, 0], visualIds: [] });
    const capped = windowNonVerbal(window, { acoustic: { quantiser: q, framesOf: (c) => stream.framesOf(c) }, visual: null, maxIds: 3 });
    assert.deepEqual(capped.acousticIds, [1, 0, 0]); // items 0, 4 (3.5 rounds half to even), 7
    // Only frames centred inside the window count: a window over the second half sees silence only.
    const late = windowNonVerbal(windowOf(audio.slice(10), [], T0 + 1000, T0 + 7000), {
      acoustic: { quantiser: q, framesOf: (c) => stream.framesOf(c) },
      visual: null,
      maxIds: 24,
    });
    assert.deepEqual(late.acousticIds, [0, 0, 0, 0]);
  });

  it('visual: a face vector per frame, in time order; no face and not analysed give no id', () => {
    const happy = VISUAL_FEATURES.map((n) => (n === 'expr_happy' ? 1 : 0));
    const angry = VISUAL_FEATURES.map((n) => (n === 'expr_angry' ? 1 : 0));
    const q = new Quantiser(codebook('visual', [happy, angry], VISUAL_FEATURES));
    const frames = [frame(T0), frame(T0 + 250), frame(T0 + 500), frame(T0 + 750), frame(T0 + 1000)];
    const vectors = new Map<VideoFrame, number[] | null>([
      [frames[0]!, angry],
      [frames[1]!, null],
      [frames[3]!, happy],
      [frames[4]!, angry],
    ]);
    const ids = windowNonVerbal(windowOf([], frames), { acoustic: null, visual: { quantiser: q, vectorOf: (f) => vectors.get(f) }, maxIds: 24 });
    assert.deepEqual(ids, { acousticIds: [], visualIds: [1, 0, 1] });
    const none = windowNonVerbal(windowOf([], [frames[1]!, frames[2]!]), {
      acoustic: null,
      visual: { quantiser: q, vectorOf: (f) => vectors.get(f) },
      maxIds: 24,
    });
    assert.deepEqual(none.visualIds, [], 'no face is absence, not a zero vector');
  });

  it('subsample picks as numpy linspace(0, n - 1, max).round()', () => {
    const ten = Array.from({ length: 10 }, (_, i) => i);
    assert.deepEqual(subsample(ten, 4), [0, 3, 6, 9]);
    assert.deepEqual(subsample(ten, 6), [0, 2, 4, 5, 7, 9]);
    assert.deepEqual(subsample(ten, 12), ten);
    assert.deepEqual(subsample(ten, 1), [0]);
  });
});

/** A promise to resolve by hand. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('keepSessionOrder (the async video stage)', () => {
  interface Item {
    session: string;
    name: string;
    slow?: boolean;
  }

  it("keeps each session's order; other sessions pass; at most `concurrency` work at once", async () => {
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const started: string[] = [];
    const out: string[] = [];
    const state: KeepSessionOrderState = { queued: 0, running: 0, held: 0 };
    const source = new Subject<Item>();
    let completed = false;
    source
      .pipe(
        keepSessionOrder<Item>(
          {
            sessionOf: (i) => i.session,
            workFor: (i) =>
              i.slow
                ? () => {
                    started.push(i.name);
                    const g = deferred();
                    gates.set(i.name, g);
                    return g.promise;
                  }
                : null,
            concurrency: 2,
          },
          state,
        ),
      )
      .subscribe({ next: (i) => out.push(i.name), complete: () => (completed = true) });
    source.next({ session: 'a', name: 'a-video-1', slow: true });
    source.next({ session: 'a', name: 'a-audio-1' });
    source.next({ session: 'b', name: 'b-audio-1' });
    source.next({ session: 'a', name: 'a-video-2', slow: true });
    source.next({ session: 'c', name: 'c-video-1', slow: true });
    source.next({ session: 'b', name: 'b-audio-2' });
    assert.deepEqual(out, ['b-audio-1', 'b-audio-2'], 'session b does not wait for a');
    assert.deepEqual(started, ['a-video-1', 'a-video-2'], 'two at once; c waits its turn');
    assert.deepEqual(state, { queued: 3, running: 2, held: 4 });
    gates.get('a-video-2')!.resolve();
    await tick();
    assert.deepEqual(out, ['b-audio-1', 'b-audio-2'], 'a-video-2 finished first but waits for a-video-1');
    assert.deepEqual(started, ['a-video-1', 'a-video-2', 'c-video-1']);
    source.complete();
    gates.get('a-video-1')!.resolve();
    await tick();
    assert.deepEqual(out, ['b-audio-1', 'b-audio-2', 'a-video-1', 'a-audio-1', 'a-video-2']);
    assert.equal(completed, false, 'completes only when all work is done');
    gates.get('c-video-1')!.resolve();
    await tick();
    assert.deepEqual(out.slice(-1), ['c-video-1']);
    assert.equal(completed, true);
    assert.deepEqual(state, { queued: 0, running: 0, held: 0 });
  });

  it('sheds work beyond maxQueued and passes failed items on, in order', async () => {
    const shed: string[] = [];
    const failed: string[] = [];
    const items: Item[] = ['v1', 'v2', 'v3'].map((name) => ({ session: 'a', name, slow: true }));
    const out = await firstValueFrom(
      from(items).pipe(
        keepSessionOrder<Item>({
          sessionOf: (i) => i.session,
          workFor: (i) => () => (i.name === 'v1' ? Promise.reject(new Error('bad frame')) : tick().then(() => undefined)),
          maxQueued: 2,
          onShed: (i) => shed.push(i.name),
          onError: (i) => failed.push(i.name),
        }),
        toArray(),
      ),
    );
    assert.deepEqual(
      out.map((i) => i.name),
      ['v1', 'v2', 'v3'],
    );
    assert.deepEqual(shed, ['v3']);
    assert.deepEqual(failed, ['v1']);
  });
});

describe('face vectors per frame', () => {
  const fakeFaces = (seen: Array<{ width: number; height: number }>): FaceSource => ({
    analyze: async (f) => {
      seen.push({ width: f.width, height: f.height });
      return { vector: new Array<number>(VISUAL_DIM).fill(f.width), faces: 1 };
    },
  });

  it('RGB24 is analysed at most every 250 ms per session; FEATURES of this extractor are taken; others are unsupported', async () => {
    const seen: Array<{ width: number; height: number }> = [];
    const faces = new FaceVectors({ faces: fakeFaces(seen) });
    const why: string[] = [];
    const onUnsupported = (w: string) => why.push(w);
    const frames = [frame(T0), frame(T0 + 100), frame(T0 + 250)];
    const work = frames.map((f) => faces.workFor(f, onUnsupported));
    assert.equal(work[1], null, 'within 250 ms of the last analysed frame');
    await Promise.all(work.map((w) => w?.()));
    assert.deepEqual(seen, [
      { width: 4, height: 2 },
      { width: 4, height: 2 },
    ]);
    assert.equal(faces.vectorOf(frames[0]!)!.length, VISUAL_DIM);
    assert.equal(faces.vectorOf(frames[1]!), undefined);
    const edge = frame(T0, { format: 'FEATURES', data: Buffer.alloc(0), features: new Array<number>(VISUAL_DIM).fill(0.5), featureSet: VISUAL_FEATURE_SET });
    const edgeNoFace = frame(T0, { format: 'FEATURES', data: Buffer.alloc(0), features: [], featureSet: VISUAL_FEATURE_SET, facePresent: false });
    const openface = frame(T0, { format: 'FEATURES', data: Buffer.alloc(0), features: [1, 2, 3], featureSet: 'openface-2.2' });
    const jpeg = frame(T0 + 1000, { format: 'JPEG', data: Buffer.from([0xff, 0xd8]) });
    const broken = frame(T0 + 2000, { width: 5 });
    for (const f of [edge, edgeNoFace, openface, jpeg, broken]) assert.equal(faces.workFor(f, onUnsupported), null);
    assert.equal(faces.vectorOf(edge)![0], 0.5);
    assert.equal(faces.vectorOf(edgeNoFace), null);
    assert.equal(faces.vectorOf(openface), undefined);
    assert.deepEqual(why, ['FEATURES', 'JPEG', 'invalid'], 'JPEG without a decoder is unsupported');
    assert.deepEqual(faces.stats.unsupported, { JPEG: 1, PNG: 0, FEATURES: 1, invalid: 1 });
  });

  it('a live frame that waited longer than maxWaitMs for the analyzer passes without a face vector, counted as stale; a backlog frame waits', async () => {
    const seen: Array<{ width: number; height: number }> = [];
    let clock = 1000;
    const stale: string[] = [];
    const wallNow = () => T0 + 100; // the frames are 100 ms old: live
    const faces = new FaceVectors({ faces: fakeFaces(seen), maxWaitMs: 200, now: () => clock, wallNow, onStale: (f) => stale.push(f.sessionId) });
    const frames = [frame(T0, { sessionId: 'a' }), frame(T0, { sessionId: 'b' }), frame(T0, { sessionId: 'c' })];
    const work = frames.map((f) => faces.workFor(f, () => assert.fail('supported')));
    clock += 200; // a waited exactly the bound: analysed
    await work[0]!();
    clock += 1; // b and c waited 201 ms
    await work[1]!();
    await work[2]!();
    assert.equal(seen.length, 1);
    assert.equal(faces.vectorOf(frames[0]!)!.length, VISUAL_DIM);
    assert.equal(faces.vectorOf(frames[1]!), undefined, 'not analysed, as a shed frame');
    assert.deepEqual(stale, ['b', 'c']);
    assert.equal(faces.stats.stale, 2);
    assert.equal(faces.stats.analysed, 1);
    // A frame that reached the stage LIVE_AGE_MS after its event time is from a backlog: analysed however long it waited.
    const backlog = faces.workFor(frame(T0 - LIVE_AGE_MS - 200, { sessionId: 'e' }), () => undefined)!;
    clock += 60_000;
    await backlog();
    assert.equal(faces.stats.stale, 2);
    assert.equal(seen.length, 2);
    // 0 turns the bound off
    const unbounded = new FaceVectors({ faces: fakeFaces(seen), maxWaitMs: 0, now: () => clock, wallNow });
    const late = unbounded.workFor(frame(T0, { sessionId: 'd' }), () => undefined)!;
    clock += 60_000;
    await late();
    assert.equal(unbounded.stats.stale, 0);
    assert.equal(seen.length, 3);
    assert.throws(() => new FaceVectors({ faces: null, maxWaitMs: -1 }), /maxWaitMs -1/);
  });

  it('JPEG frames are decoded with sharp and scaled to 320 px wide', async (t) => {
    const decoder = await loadImageDecoder();
    if (typeof decoder === 'string') return t.skip(decoder);
    const sharp = ((await import('sharp')) as unknown as { default: (b: Buffer, o: object) => { jpeg(): { toBuffer(): Promise<Buffer> } } }).default;
    const jpeg = await sharp(Buffer.alloc(640 * 480 * 3, 90), { raw: { width: 640, height: 480, channels: 3 } })
      .jpeg()
      .toBuffer();
    const seen: Array<{ width: number; height: number }> = [];
    const faces = new FaceVectors({ faces: fakeFaces(seen), decoder });
    const f = frame(T0, { format: 'JPEG', width: 640, height: 480, data: jpeg });
    await faces.workFor(f, () => assert.fail('JPEG is supported with sharp'))!();
    assert.deepEqual(seen, [{ width: 320, height: 240 }]);
    assert.ok(faces.stats.decodeMs > 0);
  });
});

describe('the manifest rule: non-verbal ids only with codebooks the model names', () => {
  const audio = chunksOf(
    pcm16(1, () => true),
    [100],
  );
  const records: Positioned<InputRecord>[] = [
    ...audio.map((value) => ({ value: { kind: 'audio' as const, value } })),
    { value: { kind: 'video', value: frame(T0) } },
    { value: { kind: 'video', value: frame(T0 + 500) } },
  ];

  it('codebooks: null -> nothing extracted, nothing filled, used says so, logged once', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write: (chunk: Buffer, _e, cb) => {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    let analysed = 0;
    const features = createPipelineFeatures({
      codebooks: { acoustic: null, visual: null },
      faces: {
        analyze: async () => {
          analysed++;
          return null;
        },
      },
      windowSizeMs: 6000,
      logger,
    });
    const out = await firstValueFrom(from(records).pipe(features.extract, toArray()));
    assert.equal(out.length, records.length);
    out.forEach((r, i) => assert.equal(r, records[i], 'the same records, in order'));
    assert.deepEqual(features.uses, { audio: false, video: false });
    assert.equal(features.nonVerbal, undefined, 'no scoring hook: ids stay absent');
    assert.equal(features.stats.audio.chunks, 0);
    assert.equal(features.stats.audio.frames, 0);
    assert.equal(analysed, 0);
    assert.equal(features.stats.audio.notUsed, audio.length);
    assert.equal(features.stats.video.notUsed, 2);
    const warned = lines.map((l) => JSON.parse(l) as { msg: string }).filter((l) => /not used/.test(l.msg));
    assert.equal(warned.length, 2, 'once for audio, once for video');
    // What scoring then builds: audio present, not used.
    const window = windowOf(audio, [], T0, T0 + 6000);
    const built = buildWindowInput(window, {
      tokenizer: { encode: () => ({ inputIds: [[1]], attentionMask: [[1]] }), countTokens: () => 1 } as never,
      maxTextTokens: 8,
      padIndex: { acoustic: 2, visual: 2 },
      nonVerbal: undefined /* scoring without the hook */,
    });
    assert.deepEqual(built.present, { text: false, audio: true, video: false });
    assert.deepEqual(built.used, { text: false, audio: false, video: false });
    assert.deepEqual(built.input.acousticMask, [0]);
  });

  it('an acoustic codebook only -> audio extracted and used, video not', async () => {
    const pooled = new AcousticExtractor().extract(toFloat(pcm16(1, () => true))).pooled;
    const expired$ = new Subject<string>();
    const features = createPipelineFeatures({
      codebooks: { acoustic: codebook('acoustic', [pooled[0]!, pooled[2]!], ACOUSTIC_FEATURES), visual: null },
      windowSizeMs: 6000,
      expired$,
      logger: silentLogger,
    });
    const out = await firstValueFrom(from(records).pipe(features.extract, toArray()));
    assert.equal(out.length, records.length);
    assert.deepEqual(features.uses, { audio: true, video: false });
    assert.ok(features.stats.audio.frames > 90);
    const ids = features.nonVerbal!(
      windowOf(
        audio,
        records.slice(-2).map((r) => r.value.value as VideoFrame),
      ),
    );
    assert.equal(ids.acousticIds.length, 4);
    assert.deepEqual(ids.visualIds, []);
    assert.equal(features.stats.video.notUsed, 2);
    expired$.next('s');
  });

  it('refuses a codebook fitted on another layout, and one whose k is not the pad index', async () => {
    assert.throws(
      () =>
        createPipelineFeatures({ codebooks: { acoustic: codebook('acoustic', [[1, 2]], ['a', 'b']), visual: null }, windowSizeMs: 6000, logger: silentLogger }),
      /acoustic codebook was fitted on features \[a, b, \.\.\. \(2\)\], but the pipeline computes \[mfcc_0_mean/,
    );
    const dir = await mkdtemp(join(tmpdir(), 'msa-cb-'));
    try {
      const visual = codebook('visual', [new Array<number>(VISUAL_DIM).fill(0), new Array<number>(VISUAL_DIM).fill(1)], VISUAL_FEATURES);
      await writeFile(join(dir, 'visual.json'), JSON.stringify(visual));
      const base = { name: 'm', version: '1', kind: 'test', file: 'm.onnx', tokenizer: 't', maxTextTokens: 8 };
      const named = parseManifest(
        { ...base, acousticPad: 2, visualPad: 2, codebooks: { acoustic: null, visual: { file: 'visual.json' } } },
        join(dir, 'manifest.json'),
      );
      assert.deepEqual(named.codebookFiles, { acoustic: null, visual: join(dir, 'visual.json') });
      assert.deepEqual(named.padIndex, { acoustic: 2, visual: 2 });
      const loaded = await loadManifestCodebooks(named);
      assert.equal(loaded.acoustic, null);
      assert.equal(loaded.visual!.k, 2);
      const wrongK = parseManifest({ ...base, acousticPad: 2, visualPad: 3, codebooks: { visual: { file: 'visual.json' } } }, join(dir, 'manifest.json'));
      await assert.rejects(
        loadManifestCodebooks(wrongK),
        /codebooks\.visual\.file .*visual\.json has k=2 but the model's visual pad index is 3; the pad index must equal k/,
      );
      const wrongModality = parseManifest(
        { ...base, acousticPad: 2, visualPad: 2, codebooks: { acoustic: { file: 'visual.json' } } },
        join(dir, 'manifest.json'),
      );
      await assert.rejects(loadManifestCodebooks(wrongModality), /is a visual codebook, not a acoustic one/);
      const sizeOnly = parseManifest({ ...base, codebooks: { acoustic: { size: 16 }, visual: { size: 16 } } }, join(dir, 'manifest.json'));
      assert.deepEqual(await loadManifestCodebooks(sizeOnly), { acoustic: null, visual: null }, 'a size without a file fills nothing');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
