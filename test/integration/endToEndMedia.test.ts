// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * The shipped model end to end on real media: `ingest` decodes the sample clip (one ffmpeg, JPEG
 * frames, 16 kHz PCM) with its MOSI transcript as subtitles into the real broker; the pipeline
 * extracts voice and face features, quantises them with the shipped codebooks and scores with
 * the shipped ONNX model.
 * - Wiring, with the codebooks' gates off: a window holding words, voice and a face is scored
 *   with all three read by the model and non-zero text, audio and video contributions that sum
 *   to its window score. When the stream ends, the session's alert state is freed after its last
 *   score.
 * - The shipped `models/manifest.multimodal.json`: this natural voice is unlike the acted voices
 *   the voice path learned from (its codebook distances are beyond the gate), so the voice is
 *   left out and counted, while words and face are read.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ingest } from '../../src/ingest/ingest.js';
import { openRecordSender, type OpenSender } from '../../src/ingest/kafkaSender.js';
import { silentLogger } from '../../src/log.js';
import type { Score } from '../../src/schemas/records.js';
import { brokers, startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';
import { faceModelsMissing } from '../fixtures/faceModels.js';
import { dataDir } from '../fixtures/env.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SAMPLE = join(dataDir, 'samples', 'Oz06ZWiO20M_6.mp4');
// The clip's transcript in ../shared/data/mosi/label.csv (id Oz06ZWiO20M_6, label -0.8).
const WORDS = 'and sucker punch is a failer but like a really ambitious weird the interesting idiosyncratic failure';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'msa-e2e-'));
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The shipped multimodal manifest, with every path absolute and (optionally) the codebooks' gates removed. */
async function manifest(gates: boolean): Promise<string> {
  const models = join(repo, 'models');
  const m = JSON.parse(await readFile(join(models, 'manifest.multimodal.json'), 'utf8')) as {
    file: string;
    tokenizer: string;
    codebooks: Record<string, { file?: string }>;
  };
  m.file = join(models, m.file);
  m.tokenizer = join(models, m.tokenizer);
  for (const kind of ['acoustic', 'visual']) {
    const entry = m.codebooks[kind]!;
    const source = join(models, entry.file!);
    if (gates) entry.file = source;
    else {
      const cb = JSON.parse(await readFile(source, 'utf8')) as { gate?: unknown };
      delete cb.gate;
      entry.file = join(dir, `${kind}-no-gate.json`);
      await writeFile(entry.file, JSON.stringify(cb));
    }
  }
  const out = join(dir, `manifest-${gates ? 'gated' : 'open'}.json`);
  await writeFile(out, JSON.stringify(m));
  return out;
}

/** Ingests the clip with its transcript into a fresh pipeline; returns the harness and the session's scores. */
async function run(manifestPath: string): Promise<{ h: Harness; sender: OpenSender; scores: () => Score[]; sessionId: string }> {
  // The clip's one transcript record can wait in the feature stage behind the frames before it
  // (session order) for longer than modalityIdleMs with the face model in a worker on a busy
  // machine; the windows count its partition as behind meanwhile (pipeline/windowClock.ts inFlight).
  const h = await startHarness({ model: { manifest: manifestPath } });
  const sender = await openRecordSender({ config: h.config, brokers, logger: silentLogger });
  const srt = join(dir, 'clip.srt');
  await writeFile(srt, `1\n00:00:00,300 --> 00:00:07,000\n${WORDS}\n`);
  const sessionId = `e2e-${randomUUID().slice(0, 8)}`;
  // Media time 0 on a whole second: the windows (1 s hops on the epoch) cut the clip the same way every run.
  const startTime = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const summary = await ingest(SAMPLE, { sessionId, sender, subtitles: srt, realtime: false, videoFps: 2, startTime, logger: silentLogger });
  assert.ok(summary.records.audio > 50 && summary.records.video > 10 && summary.records.transcript >= 1, JSON.stringify(summary.records));
  const topic = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  return { h, sender, sessionId, scores: () => topic.items.map((s) => s.value).filter((s) => s.sessionId === sessionId) };
}

test(
  'the sample clip through ingest and the pipeline: text, voice and face all move the score (gates off)',
  { skip: faceModelsMissing ?? false, timeout: 300_000 },
  async () => {
    const { h, sender, scores } = await run(await manifest(false));
    try {
      const full = () => scores().filter((s) => s.modalitiesUsed?.text && s.modalitiesUsed.audio && s.modalitiesUsed.video);
      await waitFor('a score that read words, voice and face', () => full().length > 0, 240_000);
      const s = full()[0]!;
      assert.match(s.modelVersion, /0\.3\.0/, 'the shipped model scored it');
      assert.deepEqual(s.modalities, { text: true, audio: true, video: true });
      for (const m of ['text', 'audio', 'video'] as const) assert.ok(Math.abs(s.contributions[m]) > 1e-3, `${m} contribution ${s.contributions[m]}`);
      const sum = s.contributions.text + s.contributions.audio + s.contributions.video;
      assert.ok(Math.abs(sum - s.windowScore) < 1e-3, `contributions sum to ${sum}, window score ${s.windowScore}`);

      // The stream ended (endOfStream on every modality): after its last score, the session's alert
      // state is freed by the pipeline's session end, long before the 60 s idle sweep could.
      await waitFor('the ended session freed from the alert evaluator', () => h.service.alerts.stats().sessions === 0, 20_000);
    } finally {
      await sender.close();
      await h.close();
    }
  },
);

test(
  'with the shipped gates, the natural voice of the clip (unlike the acted training voices) is left out and counted',
  { skip: faceModelsMissing ?? false, timeout: 300_000 },
  async () => {
    const { h, sender, scores } = await run(await manifest(true));
    try {
      await waitFor('the scores of the session', () => scores().length >= 3, 240_000);
      // A window's gate looks at its own vectors: the clip's voice as a whole is far from the
      // training voices (median distance 5.8 > 5.04), so most windows holding it are left out.
      const withVoice = scores().filter((s) => s.modalities.audio);
      const left = withVoice.filter((s) => s.modalitiesUsed?.audio === false);
      assert.ok(withVoice.length > 0 && left.length * 2 > withVoice.length, `voice left out in ${left.length} of ${withVoice.length} windows`);
      for (const s of left) assert.equal(s.contributions.audio, 0, `window ending ${s.windowEnd}: no voice, no voice contribution`);
      assert.ok(
        scores().some((s) => s.modalitiesUsed?.text && s.modalitiesUsed.video),
        'words and face are still read',
      );
      const gated = h.service.pipeline.stats().features.audio.gated;
      assert.ok(gated >= left.length, `gated windows counted: ${gated} for ${left.length} windows left without voice`);
    } finally {
      await sender.close();
      await h.close();
    }
  },
);
