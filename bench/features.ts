/**
 * Feature extraction speed on the sample clip, in one run: acoustic real-time factor on one core,
 * resampling 48 / 44.1 / 8 kHz to 16 kHz, and visual frames per second at 320 px with the shipped
 * 128 px face detector and (in a child process: Human holds one detector per process) Human's
 * 256 px one, with where the time goes. Figures are medians over rounds.
 * Writes bench/results/features.json. Goals: acoustic >= 200x real time, visual >= 25 fps.
 *
 *   node --import tsx bench/features.ts [media]
 *   node --import tsx bench/features.ts --visual-only --detector FILE.json [media]   (one detector, JSON on stdout)
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeAudio, decodeVideoFrames, type VideoFrame } from '../src/media/ffmpeg/index.js';
import { AcousticExtractor, StreamingResampler, type AcousticTimings } from '../src/features/acoustic/index.js';
import { defaultDetectorModel, FaceAnalyzer, humanPaths } from '../src/features/visual/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : (args.splice(i, name.startsWith('--visual') ? 1 : 2)[1] ?? name);
};
const visualOnly = flag('--visual-only') !== undefined;
const detector = flag('--detector') ?? defaultDetectorModel();
const media = args[0] ?? join(process.env.MSA_DATA_DIR ?? join(here, '..', '..', 'shared', 'data'), 'samples', 'Oz06ZWiO20M_6.mp4');
const ms = (t0: number) => performance.now() - t0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const ROUNDS = 5;

/** Frames per second of the face analyzer with `detectorModel` on the clip's frames (4 fps, 320 px). */
async function visualBench(detectorModel: string) {
  let t = performance.now();
  const analyzer = await FaceAnalyzer.create({ detectorModel });
  const initMs = ms(t);
  const frames: VideoFrame[] = [];
  t = performance.now();
  for await (const f of decodeVideoFrames(media, { fps: 4, width: 320 })) frames.push(f);
  const videoDecodeMs = ms(t);
  for (const f of frames.slice(0, 3)) await analyzer.analyze(f); // warm-up
  let faces = 0;
  const perFrame: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    faces = 0;
    t = performance.now();
    for (const f of frames) if (await analyzer.analyze(f)) faces++;
    perFrame.push(ms(t) / frames.length);
  }
  const faceMs = median(perFrame);
  return {
    models_ms: analyzer.timeModels(),
    detector: detectorModel,
    frames: frames.length,
    width: frames[0]?.width,
    height: frames[0]?.height,
    init_ms: +initMs.toFixed(0),
    decode_ms: +videoDecodeMs.toFixed(1),
    decode_ms_per_frame: +(videoDecodeMs / frames.length).toFixed(2),
    face_ms_per_frame: +faceMs.toFixed(1),
    face_ms_per_frame_rounds: perFrame.map((x) => +x.toFixed(1)),
    fps: +(1000 / faceMs).toFixed(1),
    face_fraction: +(faces / frames.length).toFixed(3),
  };
}

if (visualOnly) {
  console.log(JSON.stringify(await visualBench(detector)));
  process.exit(0);
}

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
  per_group_ms: {
    spectral_mfcc_energy_zcr: +(tm.spectralMs / reps).toFixed(2),
    pitch_yin: +(tm.pitchMs / reps).toFixed(2),
    pooling: +(tm.poolMs / reps).toFixed(3),
  },
};

// resampling to 16 kHz (the pipeline's per-session resampler), 100 ms chunks
const resampling: Record<string, number> = {};
for (const rate of [48_000, 44_100, 8_000]) {
  const input = await decodeAudio(media, { sampleRate: rate });
  const chunk = rate / 10;
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const rs = new StreamingResampler(rate, 16_000);
    const t = performance.now();
    for (let at = 0; at < input.length; at += chunk) rs.push(input.subarray(at, at + chunk));
    rs.flush();
    rounds.push(ms(t));
    rs.dispose();
  }
  resampling[`from_${rate}_realtime_factor`] = +(input.length / rate / (median(rounds) / 1000)).toFixed(0);
}

// visual: the shipped detector here, Human's 256 px one in a child process
const visual = await visualBench(detector);
let visual256: Record<string, unknown> | string;
try {
  const out = execFileSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--visual-only', '--detector', join(humanPaths().models, 'blazeface.json'), media],
    { encoding: 'utf8' },
  );
  visual256 = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
} catch (e) {
  visual256 = `failed: ${(e as Error).message.split('\n')[0]}`;
}
const fps256 = typeof visual256 === 'string' ? null : (visual256.fps as number);

const result = {
  media,
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  note: 'single thread (acoustic: pure TS; visual: tfjs WASM SIMD, single-threaded)',
  goals: { acoustic_realtime_factor: 200, visual_fps: 25 },
  acoustic,
  resampling,
  visual,
  visual_human_256px_detector: visual256,
  visual_speedup_vs_256px: fps256 ? +(visual.fps / fps256).toFixed(2) : null,
};
console.log(JSON.stringify(result, null, 2));
await mkdir(join(here, 'results'), { recursive: true });
await writeFile(join(here, 'results', 'features.json'), `${JSON.stringify(result, null, 2)}\n`);
