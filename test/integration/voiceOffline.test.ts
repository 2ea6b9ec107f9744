/**
 * The voice path in `msa featurize` and `msa eval --media`, on real RAVDESS files: each file is read
 * as one session through the live path's parts (Silero VAD, the Whisper encoder, reader.json).
 * - featurize writes a voice value per row, and it equals the live voice stage's value for a window
 *   spanning the same audio sent as 200 ms records (one path everywhere);
 * - eval --media adds W * clamp(v, -1, 1) to each row's score (the `voice` of ScoredRow, the report's
 *   summary), on top of the same rows scored without the voice path.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.js';
import { evaluateCsv } from '../../src/eval/evaluate.js';
import { featurize, type FeatureRecord } from '../../src/features/featurize.js';
import { silentLogger } from '../../src/log.js';
import { decodeAudio } from '../../src/media/ffmpeg/index.js';
import { loadVoice, voiceTerm, type VoiceParts } from '../../src/voice/index.js';
import { createVoiceStage } from '../../src/voice/stage.js';
import { repoRoot } from '../fixtures/env.js';
import { sharedData } from '../fixtures/whisper.js';
import { s16Chunks, toS16 } from '../fixtures/records.js';

// Happy and angry (actor 21), sad (actor 22).
const IDS = ['03-01-03-02-01-01-21', '03-01-05-02-02-01-21', '03-01-04-02-01-02-22'];
let dir: string;
let parts: VoiceParts;
let config: Config;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'msa-voice-offline-'));
  await Promise.all(IDS.map((id) => symlink(sharedData('ravdess', `${id}.flac`), join(dir, `${id}.flac`))));
  await writeFile(join(dir, 'rows.csv'), `id,text,label\n${IDS.map((id, i) => `${id},Kids are talking by the door,${[2, -2, -1.5][i]}`).join('\n')}\n`);
  config = loadConfig({
    overrides: { logLevel: 'silent', voice: { enabled: true, reader: join(repoRoot, 'models', 'voice', 'reader.json') }, asr: { threads: 1 } },
  });
  parts = (await loadVoice(config, silentLogger))!;
});

after(async () => {
  await parts?.release();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The live stage's value of a window spanning the whole file, its audio sent as 200 ms records. */
async function liveValue(file: string): Promise<number | null> {
  const stage = createVoiceStage({
    reader: parts.served.reader,
    pool: parts.pool,
    newCutter: parts.newCutter,
    maxBatch: 8,
    maxQueued: 100,
    maxSessions: 4,
    holdTimeoutMs: 60_000,
    onError: (e) => assert.fail(String(e)),
    logger: silentLogger,
  });
  const audio = await decodeAudio(file, { sampleRate: 16_000 });
  const chunks = s16Chunks(toS16(audio), 's', 0);
  for (const c of chunks) stage.audio(c);
  const v = await stage.windowVoice('s', 0, chunks.length * 200);
  await stage.close();
  return v?.value ?? null;
}

test('msa featurize writes a voice value per row, the live stage value of the same audio', { timeout: 180_000 }, async () => {
  const out = join(dir, 'out');
  const summary = await featurize({ csv: join(dir, 'rows.csv'), mediaDir: dir, outDir: out, video: false, voice: parts });
  assert.equal(summary.written, IDS.length);
  const records = (await readFile(join(out, 'features.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as FeatureRecord);
  for (const r of records) {
    assert.equal(typeof r.voice, 'number', `${r.id}: a voice value`);
    assert.ok(r.voice_utterances!.length >= 1);
    // 16-bit records instead of the decoder's floats: the same value to a few 1e-3.
    const live = await liveValue(join(dir, r.media));
    assert.ok(live !== null && Math.abs(live - r.voice!) < 0.01, `${r.id}: featurize ${r.voice}, live ${live}`);
  }
  assert.ok(new Set(records.map((r) => r.voice!.toFixed(3))).size === IDS.length, 'values differ by file');
});

test('msa eval --media adds the voice term of each row to its score', { timeout: 180_000 }, async () => {
  const csv = join(dir, 'rows.csv');
  const manifest = join(repoRoot, 'models', 'manifest.json');
  const plain = await evaluateCsv({ csv, manifest, intraOpThreads: 1, logger: silentLogger });
  const voiced = await evaluateCsv({ csv, manifest, intraOpThreads: 1, logger: silentLogger, media: dir, voice: () => loadVoice(config, silentLogger) });
  assert.equal(voiced.voice?.rows, IDS.length, JSON.stringify(voiced.voice));
  assert.equal(voiced.voice?.weightDefaulted, parts.served.weightDefaulted);
  const records = (await readFile(join(dir, 'out', 'features.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as FeatureRecord);
  voiced.scored.forEach((row, i) => {
    const v = records.find((r) => r.id === row.id)!.voice!;
    const term = voiceTerm(v, parts.served.weight);
    assert.ok(term !== 0);
    assert.ok(Math.abs(row.voice! - term) < 1e-4, `${row.id}: voice term ${row.voice}, featurize's v gives ${term}`);
    assert.ok(Math.abs(row.score - (plain.scored[i]!.score + row.voice!)) < 1e-6, `${row.id}: score = model + voice term`);
  });
});
