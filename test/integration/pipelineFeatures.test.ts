// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * Voice and face features in the real pipeline: a model whose manifest names codebooks (fitted
 * here on the real features of the sample clip) gets acoustic and visual ids for windows with
 * audio / video, from 16 kHz PCM chunks and from RGB24 and JPEG frames; the test graph's audio and
 * video contributions then differ from what an absent modality (pad, mask 0) gives.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fitCodebook, saveCodebook } from '../../src/features/codebook.js';
import { ACOUSTIC_FEATURES } from '../../src/features/acoustic/index.js';
import { sharedFaceAnalyzer, VISUAL_FEATURES } from '../../src/features/visual/index.js';
import { extractMediaFeatures } from '../../src/features/media.js';
import { decodeVideoFrames, streamAudioS16 } from '../../src/media/ffmpeg/index.js';
import type { InputRecord, Score } from '../../src/schemas/records.js';
import { buildTestGraph, DEFAULT_PAD_INDEX, referenceOutput } from '../fixtures/onnxGraph.js';
import { TOKENIZER_DIR } from '../fixtures/servedModel.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';
import { faceModelsMissing } from '../fixtures/faceModels.js';
import { dataDir } from '../fixtures/env.js';

const SAMPLE = join(dataDir, 'samples', 'Oz06ZWiO20M_6.mp4');
const T0 = 1_760_000_000_000;
const K = DEFAULT_PAD_INDEX.acoustic; // the test graph's pad index: codebooks of 16

let h: Harness;
let modelDir: string;
const records: InputRecord[] = [];

/** What an absent modality contributes in the test graph (one pad id, mask 0). */
const absent = referenceOutput({ inputIds: [1], attentionMask: [1], acousticIds: [K], acousticMask: [0], visualIds: [K], visualMask: [0] }).contributions;

before(async () => {
  if (faceModelsMissing) return;
  modelDir = await mkdtemp(join(tmpdir(), 'msa-features-model-'));
  // Codebooks fitted on the clip's real features, as `msa featurize` + `msa codebook fit` would.
  const f = await extractMediaFeatures(SAMPLE, { fps: 4, faces: await sharedFaceAnalyzer() });
  const faces = f.visual.filter((v): v is number[] => v !== null);
  await saveCodebook(
    join(modelDir, 'codebooks', 'acoustic.json'),
    fitCodebook(f.acoustic!.pooled, { modality: 'acoustic', featureNames: ACOUSTIC_FEATURES, k: K }),
  );
  await saveCodebook(join(modelDir, 'codebooks', 'visual.json'), fitCodebook(faces, { modality: 'visual', featureNames: VISUAL_FEATURES, k: K }));
  await writeFile(join(modelDir, 'test-graph.onnx'), buildTestGraph());
  const manifest = join(modelDir, 'manifest.json');
  await writeFile(
    manifest,
    JSON.stringify({
      name: 'msa-test-graph-nonverbal',
      version: '0',
      kind: 'test',
      file: 'test-graph.onnx',
      maxTextTokens: 64,
      tokenizer: TOKENIZER_DIR,
      acousticPad: K,
      visualPad: K,
      codebooks: { acoustic: { file: 'codebooks/acoustic.json' }, visual: { file: 'codebooks/visual.json' } },
    }),
  );
  h = await startHarness({ model: { manifest }, windows: { sizeMs: 6000, hopMs: 1000, allowedLatenessMs: 500 } });

  // Two sessions from the clip: one sends raw RGB24 frames, the other JPEG; both 100 ms PCM chunks.
  const sharp = ((await import('sharp')) as unknown as { default: (b: Uint8Array, o: object) => { jpeg(): { toBuffer(): Promise<Buffer> } } }).default;
  const audio: Array<{ eventTime: number; samples: Buffer }> = [];
  for await (const chunk of streamAudioS16(SAMPLE, { sampleRate: 16000, chunkMs: 100 })) {
    audio.push({
      eventTime: T0 + Math.round(chunk.startS * 1000),
      samples: Buffer.from(chunk.samples.buffer, chunk.samples.byteOffset, chunk.samples.byteLength),
    });
  }
  const video: Array<{ eventTime: number; width: number; height: number; rgb: Buffer; jpeg: Buffer }> = [];
  for await (const fr of decodeVideoFrames(SAMPLE, { fps: 4, width: 320 })) {
    const rgb = Buffer.from(fr.data.buffer, fr.data.byteOffset, fr.data.byteLength);
    const jpeg = await sharp(fr.data, { raw: { width: fr.width, height: fr.height, channels: 3 } })
      .jpeg()
      .toBuffer();
    video.push({ eventTime: T0 + Math.round(fr.time * 1000), width: fr.width, height: fr.height, rgb, jpeg });
  }
  for (const sessionId of ['clip-rgb', 'clip-jpeg']) {
    audio.forEach((a, seq) =>
      records.push({
        kind: 'audio',
        value: { sessionId, seq, eventTime: a.eventTime, sampleRate: 16000, encoding: 'S16LE', samples: a.samples, endOfStream: seq === audio.length - 1 },
      }),
    );
    video.forEach((v, seq) =>
      records.push({
        kind: 'video',
        value: {
          sessionId,
          seq,
          eventTime: v.eventTime,
          format: sessionId === 'clip-rgb' ? 'RGB24' : 'JPEG',
          width: v.width,
          height: v.height,
          data: sessionId === 'clip-rgb' ? v.rgb : v.jpeg,
          features: [],
          featureSet: null,
          facePresent: null,
          endOfStream: seq === video.length - 1,
        },
      }),
    );
  }
  records.sort((a, b) => a.value.eventTime - b.value.eventTime);
  // Small batches: raw frames are 230 kB each, and a produce request has a size limit.
  for (let i = 0; i < records.length; i += 8) await h.produce(records.slice(i, i + 8));
});

after(async () => {
  await h?.close();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

test('windows with audio and video get acoustic and visual ids from the codebooks the manifest names', { skip: faceModelsMissing ?? false }, async () => {
  const lastTime = Math.max(...records.map((r) => r.value.eventTime));
  const perSession = Math.floor((lastTime - T0) / 1000) + 6; // window ends T0 + 1 s .. the last window holding the last record
  const total = 2 * perSession;
  const scores = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  try {
    await waitFor(`${total} scores`, () => scores.items.length >= total, 120_000);
    const stats = h.service.pipeline.stats();
    assert.equal(scores.items.length, total);
    for (const { value: s } of scores.items) {
      assert.ok(s.modalities.audio, `${s.sessionId} window ending ${s.windowEnd - T0}: audio present`);
      assert.notEqual(
        s.contributions.audio.toFixed(6),
        absent.audio.toFixed(6),
        `${s.sessionId} window ending ${s.windowEnd - T0}: the model read acoustic ids`,
      );
      assert.ok(s.modalities.video);
      assert.notEqual(s.contributions.video.toFixed(6), absent.video.toFixed(6), `${s.sessionId} window ending ${s.windowEnd - T0}: the model read visual ids`);
    }
    assert.equal(stats.modalitiesUsed.audio, true);
    assert.equal(stats.modalitiesUsed.video, true);
    const { audio, video } = stats.features;
    assert.equal(audio.unsupported['sample-rate'], 0);
    assert.ok(audio.frames >= 2 * 700, `acoustic frames ${audio.frames}`);
    assert.equal(video.frames, records.filter((r) => r.kind === 'video').length);
    assert.equal(video.analysed, video.frames, 'every frame at 4 fps analysed, RGB24 and JPEG');
    assert.ok(video.faces >= 0.8 * video.analysed, `faces in ${video.faces} of ${video.analysed}`);
    assert.deepEqual(video.unsupported, { JPEG: 0, PNG: 0, FEATURES: 0, invalid: 0 });
    const seconds = (2 * (lastTime - T0)) / 1000;
    console.log(
      `features CPU per session-second: audio ${(audio.extractMs / seconds).toFixed(2)} ms, ` +
        `video ${((video.analyseMs + video.decodeMs) / seconds).toFixed(1)} ms (face ${(video.analyseMs / video.analysed).toFixed(1)} ms/frame, JPEG decode ${(video.decodeMs / (video.analysed / 2)).toFixed(2)} ms/frame)`,
    );
  } finally {
    await scores.close();
  }
});
