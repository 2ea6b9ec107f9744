/**
 * `ingest()` decodes audio and video of one connection with ONE ffmpeg (real ffmpeg, started
 * through a wrapper that counts): the same records as one ffmpeg per modality, sources with one
 * modality, stdin without a copy per decoder, a corrupt file.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ffmpegMedia, ingest, type MediaPort } from '../../src/ingest/ingest.js';
import { MediaError } from '../../src/media/ffmpeg/index.js';
import type { AudioChunk, VideoFrame } from '../../src/schemas/records.js';
import { countingFfmpeg, memorySender } from '../fixtures/ingestFakes.js';
import { dataDir } from '../fixtures/env.js';

const SAMPLE = join(dataDir, 'samples', 'Oz06ZWiO20M_6.mp4');
const T0 = 1_700_000_000_000;

/** The ffmpeg adapter as it was: one decoder (one ffmpeg) per modality. */
const perModality: MediaPort = { audio: ffmpegMedia.audio, video: ffmpegMedia.video };

let tmp: string;
let ffmpeg: Awaited<ReturnType<typeof countingFfmpeg>>;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'msa-ingest-one-'));
  ffmpeg = await countingFfmpeg(tmp);
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Ingests `source` unpaced through the counting ffmpeg; returns what was sent and how many ffmpeg started. */
async function run(source: string, opts: { media?: MediaPort; stdin?: Readable; audio?: boolean; video?: boolean; videoWidth?: number } = {}) {
  await ffmpeg.reset();
  const sender = memorySender();
  const summary = await ingest(source, { sessionId: 's', sender, startTime: T0, realtime: false, ffmpegPath: ffmpeg.path, ...opts });
  return { summary, sender, starts: (await ffmpeg.starts()).length };
}

describe('ingest with one ffmpeg per connection', () => {
  it('ingests the sample clip with one ffmpeg: the same records as one ffmpeg per modality', async () => {
    const one = await run(SAMPLE);
    assert.equal(one.starts, 1, 'one ffmpeg for audio and video');
    const two = await run(SAMPLE, { media: perModality });
    assert.equal(two.starts, 2);
    assert.deepEqual(one.summary.records, { audio: 76, video: 16, transcript: 0 });
    assert.deepEqual(one.summary.records, two.summary.records);
    assert.equal(one.summary.mediaMs, two.summary.mediaMs);
    // Every record, in the order sent: seq, event time, PCM bytes, JPEG bytes.
    assert.deepEqual(one.sender.sent, two.sender.sent);
    const video = one.sender.of<VideoFrame>('video');
    assert.deepEqual(
      video.map((v) => v.eventTime - T0),
      [...Array.from({ length: 15 }, (_, i) => i * 500), 7500],
    );
  });

  it('still ingests a source with only audio, or only video (one extra open to find out)', async () => {
    const sine = await run('lavfi:sine=frequency=220:duration=2');
    assert.deepEqual(sine.summary.records, { audio: 21, video: 0, transcript: 0 });
    assert.deepEqual(
      sine.sender.of<AudioChunk>('audio').map((a) => a.eventTime - T0),
      [...Array.from({ length: 20 }, (_, i) => i * 100), 2000],
    );
    assert.equal(sine.starts, 2);

    const testsrc = await run('lavfi:testsrc=size=320x240:rate=10:duration=2', { videoWidth: 80 });
    assert.deepEqual(testsrc.summary.records, { audio: 0, video: 5, transcript: 0 });
    assert.deepEqual(
      testsrc.sender.of<VideoFrame>('video').map((v) => [v.eventTime - T0, v.endOfStream]),
      [
        [0, false],
        [500, false],
        [1000, false],
        [1500, false],
        [2000, true],
      ],
    );
    assert.equal(testsrc.starts, 2);
  });

  it('reads stdin with one ffmpeg, and an audio-only stdin stream still gives its audio', async () => {
    const av = 'testsrc=duration=1:size=160x120:rate=10[out0];sine=frequency=300:duration=1[out1]';
    const mkv = execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', av, '-c:v', 'mjpeg', '-c:a', 'pcm_s16le', '-f', 'matroska', 'pipe:1']);
    const both = await run('-', { stdin: Readable.from([mkv.subarray(0, 5000), mkv.subarray(5000)]), videoWidth: 80 });
    assert.equal(both.starts, 1);
    assert.deepEqual(both.summary.records, { audio: 11, video: 3, transcript: 0 });

    // As in `ffmpeg -i call.wav -f wav - | msa ingest -`: ffmpeg finds no video after reading some
    // of stdin; the audio decoder gets it all again from the start.
    const wav = execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=300:duration=2', '-f', 'wav', 'pipe:1']);
    const pieces = Array.from({ length: Math.ceil(wav.length / 1000) }, (_, i) => wav.subarray(i * 1000, (i + 1) * 1000));
    const audioOnly = await run('-', { stdin: Readable.from(pieces) });
    assert.deepEqual(audioOnly.summary.records, { audio: 21, video: 0, transcript: 0 });
    const audio = audioOnly.sender.of<AudioChunk>('audio');
    assert.equal(
      audio.reduce((n, a) => n + a.samples.length, 0),
      2 * 32000,
      'every sample of the 2 s',
    );
    assert.equal(audioOnly.starts, 2);
  });

  it('rejects a truncated file with a MediaError naming it, sending nothing', async () => {
    const half = join(tmp, 'half.mp4');
    const whole = await readFile(SAMPLE);
    await writeFile(half, whole.subarray(0, whole.length >> 1));
    const sender = memorySender();
    await assert.rejects(
      ingest(half, { sessionId: 's', sender, realtime: false, ffmpegPath: ffmpeg.path }),
      (e: unknown) => e instanceof MediaError && e.kind === 'corrupt' && e.message.includes(half) && /corrupt or truncated/.test(e.message),
    );
    assert.equal(sender.sent.length, 0);
  });
});
