/**
 * The voice path's cost (src/voice), on RAVDESS clips cut by Silero VAD as the pipeline cuts them:
 * - encoder per utterance: the Whisper tiny.en encoder's block2 for one utterance (batch 1, reader
 *   padding `none`), median ms, and per second of speech;
 * - the same utterance with every encoder output fetched (what the recogniser's run computes),
 *   to see what asking for block2 alone saves;
 * - the recogniser's full transcription of the same utterance (encoder + greedy decoding), for the
 *   ratio: the voice path's extra work next to the speech stage's;
 * - voice activity detection per second of audio (the voice stage runs its own per session): one
 *   clip at a time, and all clips at once in 100 ms pieces, whose chunks share graph calls, with
 *   the 16 kHz branch and with the 8 kHz one (telephone sessions).
 * Medians over rounds after a warm-up pass, in one process, so the ratios hold on a busy machine.
 *
 *   node --import tsx bench/voice.ts [--clips 16] [--rounds 3] [--threads 1]
 */
import { readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cacheDirOf, loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/log.js';
import { decodeAudio } from '../src/media/ffmpeg/index.js';
import { loadGraph } from '../src/model/ort.js';
import { UtteranceSegmenter } from '../src/speech/utterances.js';
import { loadSileroVad, type VadRate } from '../src/speech/vad.js';
import { ensureWhisperModel, pipPython } from '../src/speech/whisper/install.js';
import { N_MELS } from '../src/speech/whisper/mel.js';
import { loadWhisper } from '../src/speech/whisper/recognizer.js';
import { poolUtterances } from '../src/voice/encoder.js';
import { loadServedVoiceReader } from '../src/voice/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: flags } = parseArgs({
  options: { clips: { type: 'string', default: '16' }, rounds: { type: 'string', default: '3' }, threads: { type: 'string', default: '1' } },
});
const int = (name: string, raw: string) => {
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${raw}`);
  return v;
};
const nClips = int('clips', flags.clips);
const rounds = int('rounds', flags.rounds);
const threads = int('threads', flags.threads);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Process CPU ms (all threads, user + system): less swayed by other processes than wall time. */
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

const logger = createLogger('warn', 'bench-voice');
const config = loadConfig({ env: process.env });
const served = await loadServedVoiceReader(join(here, '..', 'models', 'voice', 'reader.json'));
const cacheDir = cacheDirOf(config);
const dir = await ensureWhisperModel({ name: served.model, cacheDir, python: pipPython(config.asr.python, cacheDir), logger });
const encoder = await loadGraph({ path: join(dir, 'encoder.onnx'), executionProvider: 'cpu', intraOpThreads: threads, logger });
const whisper = await loadWhisper({ model: served.model, dir, intraOpThreads: threads, logger });
const vad = await loadSileroVad({ executionProvider: 'cpu', intraOpThreads: 1, logger });

// Clips spread over actors and emotions, cut into utterances as the voice stage cuts them.
const ravdess = join(process.env.MSA_DATA_DIR ?? join(here, '..', '..', 'shared', 'data'), 'ravdess');
const all = readdirSync(ravdess)
  .filter((f) => f.endsWith('.flac'))
  .sort();
const files = Array.from({ length: nClips }, (_, i) => join(ravdess, all[Math.floor((i * all.length) / nClips)]!));
const audio = await Promise.all(files.map((f) => decodeAudio(f, { sampleRate: 16_000 })));
const vadMs: number[] = [];
const vadCpu: number[] = [];
const utterances: Float32Array[] = [];
let audioS = 0;
for (const a of audio) {
  const t = performance.now();
  const c = cpuMs();
  const seg = new UtteranceSegmenter(vad.createStream(), config.asr.vad);
  const cut = [...(await seg.push(a, 0)), ...(await seg.flush())];
  vadCpu.push(cpuMs() - c);
  vadMs.push(performance.now() - t);
  audioS += a.length / 16_000;
  utterances.push(...cut.map((u) => u.samples));
}
const speechS = utterances.reduce((n, u) => n + u.length / 16_000, 0);
// The same clips all at once, each a session streaming 100 ms records as the pipeline's stages
// push them: the chunks of different sessions share graph calls (src/speech/vad.ts). With the
// 16 kHz branch, and with the 8 kHz one that telephone sessions get (each chunk halved first).
async function together(rate: VadRate): Promise<{ ms: number; cpu: number; meanBatch: number }> {
  const before = { ...vad.stats };
  const t = performance.now();
  const c = cpuMs();
  await Promise.all(
    audio.map(async (a) => {
      const seg = new UtteranceSegmenter(vad.createStream(rate), config.asr.vad);
      for (let o = 0; o < a.length; o += 1600) await seg.push(a.subarray(o, o + 1600), o / 16);
      await seg.flush();
    }),
  );
  return { cpu: cpuMs() - c, ms: performance.now() - t, meanBatch: (vad.stats.chunks - before.chunks) / Math.max(1, vad.stats.runs - before.runs) };
}
const wide = await together(16000);
const narrow = await together(8000);

const block2Only = async (mel: Float32Array, batch: number, frames: number) =>
  (await encoder.run({ mel: { type: 'float32', data: mel, dims: [batch, N_MELS, frames] } }, ['block2'])).block2!.data as Float32Array;
const allOutputs = async (mel: Float32Array, batch: number, frames: number) =>
  (await encoder.run({ mel: { type: 'float32', data: mel, dims: [batch, N_MELS, frames] } })).block2!.data as Float32Array;

/** Per utterance: median wall ms and median CPU ms over the rounds. */
async function perUtterance(run: (u: Float32Array) => Promise<unknown>): Promise<{ wall: number[]; cpu: number[] }> {
  for (const u of utterances.slice(0, 2)) await run(u); // warm-up
  const wall: number[][] = utterances.map(() => []);
  const cpu: number[][] = utterances.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, u] of utterances.entries()) {
      const t = performance.now();
      const c = cpuMs();
      await run(u);
      cpu[i]!.push(cpuMs() - c);
      wall[i]!.push(performance.now() - t);
    }
  }
  return { wall: wall.map(median), cpu: cpu.map(median) };
}

const voice = await perUtterance((u) => poolUtterances(block2Only, [u], served.padding, served.pooling, served.width, 1));
const voiceAll = await perUtterance((u) => poolUtterances(allOutputs, [u], served.padding, served.pooling, served.width, 1));
const asr = await perUtterance((u) => whisper.transcribe([u]));

const ms = (x: number) => x.toFixed(1);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const perSpeechS = (xs: number[]) => sum(xs) / speechS;
console.log(`voice bench: ${utterances.length} utterances (${speechS.toFixed(1)} s of speech) from ${nClips} RAVDESS clips (${audioS.toFixed(1)} s),`);
console.log(`  ${threads} ORT thread(s), ${rounds} rounds, ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)} (shared machine); wall / CPU ms`);
console.log(
  `encoder block2 per utterance (voice path):   median ${ms(median(voice.wall))} / ${ms(median(voice.cpu))} ms; ${ms(perSpeechS(voice.cpu))} CPU ms per s of speech`,
);
console.log(`  same with every encoder output fetched:    median ${ms(median(voiceAll.wall))} / ${ms(median(voiceAll.cpu))} ms`);
console.log(
  `recogniser per utterance (encoder + decode): median ${ms(median(asr.wall))} / ${ms(median(asr.cpu))} ms; voice / recogniser CPU = ${(median(voice.cpu) / median(asr.cpu)).toFixed(2)}`,
);
console.log(`voice activity detection: ${ms(sum(vadMs) / audioS)} / ${ms(sum(vadCpu) / audioS)} ms per s of audio, one clip at a time`);
console.log(
  `  ${nClips} clips at once in 100 ms pieces: ${ms(wide.ms / audioS)} / ${ms(wide.cpu / audioS)} ms per s of audio, ${wide.meanBatch.toFixed(1)} chunks a graph call`,
);
console.log(
  `  the same, 8 kHz branch (telephone sessions): ${ms(narrow.ms / audioS)} / ${ms(narrow.cpu / audioS)} ms per s of audio; 8 kHz / 16 kHz CPU = ${(narrow.cpu / wide.cpu).toFixed(2)}`,
);
console.log(
  JSON.stringify({
    utterances: utterances.length,
    speech_s: +speechS.toFixed(2),
    voice_ms_median: +median(voice.wall).toFixed(2),
    voice_cpu_ms_median: +median(voice.cpu).toFixed(2),
    voice_all_outputs_cpu_ms_median: +median(voiceAll.cpu).toFixed(2),
    asr_cpu_ms_median: +median(asr.cpu).toFixed(2),
    voice_over_asr_cpu: +(median(voice.cpu) / median(asr.cpu)).toFixed(3),
    vad_cpu_ms_per_audio_s: +(sum(vadCpu) / audioS).toFixed(2),
    vad_together_cpu_ms_per_audio_s: +(wide.cpu / audioS).toFixed(2),
    vad_together_mean_batch: +wide.meanBatch.toFixed(1),
    vad_8k_together_cpu_ms_per_audio_s: +(narrow.cpu / audioS).toFixed(2),
    vad_8k_over_16k_cpu: +(narrow.cpu / wide.cpu).toFixed(3),
    threads,
  }),
);
await Promise.all([encoder.release(), whisper.release(), vad.release()]);
