/**
 * Feature extraction speed on the sample clip, in one run: acoustic real-time factor on one core
 * and visual frames per second at 320 px, with where the time goes (decode vs features, per group).
 * Writes bench/results/features.json. Goals: acoustic >= 200x real time, visual >= 25 fps.
 *
 *   node --import tsx bench/features.ts [media]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeAudio, decodeVideoFrames, type VideoFrame } from '../src/media/ffmpeg.js';
import { AcousticExtractor, type AcousticTimings } from '../src/features/acoustic/index.js';
import { FaceAnalyzer } from '../src/features/visual/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const media = process.argv[2] ?? join(process.env.MSA_DATA_DIR ?? join(here, '..', '..', 'shared', 'data'), 'samples', 'Oz06ZWiO20M_6.mp4');
const ms = (t0: number) => performance.now() - t0;

// acoustic
let t0 = performance.now();
const pcm = await decodeAudio(media);
const audioDecodeMs = ms(t0);
const audioS = pcm.length / 16000;
const ex = new AcousticExtractor();
for (let i = 0; i < 3; i++) ex.extract(pcm); // JIT warm-up
const reps = 20;
const tm: AcousticTimings = { spectralMs: 0, pitchMs: 0, poolMs: 0 };
t0 = performance.now();
for (let i = 0; i < reps; i++) ex.extract(pcm, tm);
const acousticMs = ms(t0) / reps;
const acoustic = {
  audio_s: audioS,
  decode_ms: +audioDecodeMs.toFixed(1),
  features_ms: +acousticMs.toFixed(2),
  realtime_factor: +(audioS / (acousticMs / 1000)).toFixed(1),
  realtime_factor_with_decode: +(audioS / ((acousticMs + audioDecodeMs) / 1000)).toFixed(1),
  per_group_ms: { spectral_mfcc_energy_zcr: +(tm.spectralMs / reps).toFixed(2), pitch_yin: +(tm.pitchMs / reps).toFixed(2), pooling: +(tm.poolMs / reps).toFixed(3) },
};

// visual
t0 = performance.now();
const analyzer = await FaceAnalyzer.create();
const initMs = ms(t0);
const frames: VideoFrame[] = [];
t0 = performance.now();
for await (const f of decodeVideoFrames(media, { fps: 4, width: 320 })) frames.push(f);
const videoDecodeMs = ms(t0);
for (const f of frames.slice(0, 3)) await analyzer.analyze(f); // warm-up
let faces = 0;
t0 = performance.now();
for (const f of frames) if (await analyzer.analyze(f)) faces++;
const faceMs = ms(t0);
const visual = {
  frames: frames.length,
  width: frames[0]?.width,
  height: frames[0]?.height,
  init_ms: +initMs.toFixed(0),
  decode_ms: +videoDecodeMs.toFixed(1),
  decode_ms_per_frame: +(videoDecodeMs / frames.length).toFixed(2),
  face_ms_per_frame: +(faceMs / frames.length).toFixed(1),
  fps: +(frames.length / (faceMs / 1000)).toFixed(1),
  face_fraction: +(faces / frames.length).toFixed(3),
};

const result = {
  media,
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  note: 'single thread (acoustic: pure TS; visual: tfjs WASM SIMD, single-threaded)',
  goals: { acoustic_realtime_factor: 200, visual_fps: 25 },
  acoustic,
  visual,
};
console.log(JSON.stringify(result, null, 2));
await mkdir(join(here, 'results'), { recursive: true });
await writeFile(join(here, 'results', 'features.json'), `${JSON.stringify(result, null, 2)}\n`);
