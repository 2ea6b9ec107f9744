/**
 * The shipped model end to end on real media: `ingest` decodes the sample clip (one ffmpeg, JPEG
 * frames, 16 kHz PCM) with its MOSI transcript as subtitles into the real broker; the pipeline,
 * started with the opt-in `models/manifest.multimodal.json`, extracts voice and face features,
 * quantises them with the shipped codebooks and scores with the shipped ONNX model. A window
 * holding words, voice and a face must be scored with all three read by the model and non-zero
 * text, audio and video contributions that sum to its window score. When the stream ends, the
 * session's alert state is freed after its last score.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { humanPaths } from '../../src/features/visual/index.js';
import { ingest } from '../../src/ingest/ingest.js';
import { openRecordSender, type OpenSender } from '../../src/ingest/kafkaSender.js';
import { silentLogger } from '../../src/log.js';
import type { Score } from '../../src/schemas/records.js';
import { brokers, startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SAMPLE = join(process.env.MSA_DATA_DIR ?? join(repo, '..', 'shared', 'data'), 'samples', 'Oz06ZWiO20M_6.mp4');
// The clip's transcript in ../shared/data/mosi/label.csv (id Oz06ZWiO20M_6, label -0.8).
const WORDS = 'and sucker punch is a failer but like a really ambitious weird the interesting idiosyncratic failure';

const faceModels = (() => {
  try {
    humanPaths();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
})();

let h: Harness;
let sender: OpenSender;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'msa-e2e-'));
  h = await startHarness({ model: { manifest: join(repo, 'models', 'manifest.multimodal.json') } });
  sender = await openRecordSender({ config: h.config, brokers, logger: silentLogger });
});

after(async () => {
  await sender?.close();
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the sample clip through ingest and the pipeline: text, voice and face all move the score', { skip: faceModels ?? false, timeout: 300_000 }, async () => {
  const srt = join(dir, 'clip.srt');
  await writeFile(srt, `1\n00:00:00,300 --> 00:00:07,000\n${WORDS}\n`);
  const sessionId = `e2e-${randomUUID().slice(0, 8)}`;
  const summary = await ingest(SAMPLE, { sessionId, sender, subtitles: srt, realtime: false, videoFps: 2, logger: silentLogger });
  assert.ok(summary.records.audio > 50 && summary.records.video > 10 && summary.records.transcript >= 1, JSON.stringify(summary.records));

  const scores = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  const mine = () => scores.items.map((s) => s.value).filter((s) => s.sessionId === sessionId);
  const full = () => mine().filter((s) => s.modalitiesUsed?.text && s.modalitiesUsed.audio && s.modalitiesUsed.video);
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
});
