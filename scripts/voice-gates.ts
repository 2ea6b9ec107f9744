/**
 * How many utterances each gate of the voice path leaves out, per corpus (issue 11 item 6).
 *
 *   node --import tsx scripts/voice-gates.ts DIR [CORPUS...]
 *
 * DIR/<corpus>/*.wav: 16 kHz mono 16-bit files, one utterance each (training/experiments/voice_gates.py
 * writes a fixed, evenly spaced subsample of each corpus there). Every file is one stream through:
 * - the VAD that cuts utterances for the recogniser and the voice reader (src/speech: Silero VAD,
 *   UtteranceSegmenter with the config defaults): a file that yields no utterance is left out;
 * - the acoustic codebook gate of the opt-in multimodal model (models/codebooks/acoustic.json,
 *   `Quantiser.quantiseGated` on the file's pooled acoustic vectors rounded to 5 digits, as
 *   `msa eval --media`): a gated file gives no acoustic ids.
 * Prints one JSON line per corpus and a markdown table. Real parts only: the shipped Silero graph and
 * codebook, the project's extractor.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCodebook, Quantiser } from '../src/features/codebook.js';
import { extractAcoustic } from '../src/features/acoustic/index.js';
import { silentLogger } from '../src/log.js';
import { DEFAULT_UTTERANCE_OPTIONS, UtteranceSegmenter } from '../src/speech/utterances.js';
import { loadSileroVad } from '../src/speech/vad.js';

const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** PCM of a canonical 44-byte-header WAV (mono, 16-bit, 16 kHz), as Python's wave module writes it. */
function wavSamples(buf: Buffer, path: string): Float32Array {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${path}: not a WAV file`);
  const channels = buf.readUInt16LE(22);
  const rate = buf.readUInt32LE(24);
  const bits = buf.readUInt16LE(34);
  if (channels !== 1 || rate !== 16000 || bits !== 16) throw new Error(`${path}: ${channels} ch, ${rate} Hz, ${bits} bit; expected 1, 16000, 16`);
  const pcm = new Int16Array(buf.buffer.slice(buf.byteOffset + 44, buf.byteOffset + buf.length - ((buf.length - 44) % 2)));
  return Float32Array.from(pcm, (s) => s / 32768);
}

const r5 = (x: number) => +x.toPrecision(5);

async function main(): Promise<void> {
  const [dir, ...names] = process.argv.slice(2);
  if (!dir) throw new Error('usage: node --import tsx scripts/voice-gates.ts DIR [CORPUS...]');
  const corpora = names.length > 0 ? names : ['ravdess', 'tess', 'ased', 'emovo'];
  const vad = await loadSileroVad({ logger: silentLogger });
  const codebook = await loadCodebook(join(import.meta.dirname, '..', 'models', 'codebooks', 'acoustic.json'));
  const quantiser = new Quantiser(codebook);
  const rows = [];
  for (const corpus of corpora) {
    const files = (await readdir(join(dir, corpus))).filter((f) => f.endsWith('.wav')).sort();
    let noUtterance = 0;
    let utterances = 0;
    let droppedShort = 0;
    let gated = 0;
    let seconds = 0;
    let keptSeconds = 0;
    const medians: number[] = [];
    for (const f of files) {
      const path = join(dir, corpus, f);
      const buf = await readFile(path);
      if (buf.length > MAX_FILE_BYTES) throw new Error(`${path}: ${buf.length} bytes, over ${MAX_FILE_BYTES}`);
      const pcm = wavSamples(buf, path);
      seconds += pcm.length / 16000;
      const seg = new UtteranceSegmenter(vad.createStream());
      const cut = [...(await seg.push(pcm, 0)), ...(await seg.flush())];
      droppedShort += seg.dropped;
      utterances += cut.length;
      if (cut.length === 0) noUtterance++;
      keptSeconds += cut.reduce((s, u) => s + u.samples.length / 16000, 0);
      const q = quantiser.quantiseGated(extractAcoustic(pcm).pooled.map((v) => v.map(r5)));
      if (q.gated) gated++;
      if (q.medianDistance !== null) medians.push(q.medianDistance);
    }
    medians.sort((a, b) => a - b);
    const row = {
      corpus,
      files: files.length,
      seconds: +seconds.toFixed(1),
      vadNoUtterance: noUtterance,
      vadUtterances: utterances,
      vadDroppedShort: droppedShort,
      vadKeptSecondsShare: +(keptSeconds / seconds).toFixed(3),
      codebookGated: gated,
      codebookMedianDistance: medians.length ? +medians[Math.floor(medians.length / 2)]!.toFixed(3) : null,
      codebookGate: codebook.gate?.maxMedianDistance ?? null,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  await vad.release();
  console.log(`\nVAD: ${JSON.stringify(DEFAULT_UTTERANCE_OPTIONS)}`);
  console.log('| corpus | files | VAD: files with no utterance | VAD: utterances (dropped as short) | codebook gate: files gated | median distance / gate |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const pct = (n: number) => `${n} (${((100 * n) / r.files).toFixed(1)} %)`;
    console.log(
      `| ${r.corpus} | ${r.files} | ${pct(r.vadNoUtterance)} | ${r.vadUtterances} (${r.vadDroppedShort}) | ${pct(r.codebookGated)} | ${r.codebookMedianDistance} / ${r.codebookGate} |`,
    );
  }
}

await main();
