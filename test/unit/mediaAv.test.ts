/**
 * `decodeAudioVideo`: audio and video of one input from ONE ffmpeg (real ffmpeg, counted by a
 * wrapper), the same items as the one-modality decoders, a missing modality, stdin, a corrupt
 * file, and the queues between ffmpeg's two pipes and a consumer reading in media-time order
 * (paused when ahead, never while the consumer waits on the other pipe, `limit` when too far apart).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { mergeByTime } from '../../src/ingest/connection.js';
import {
  decodeAudioVideo,
  decodeVideoFrames,
  MediaError,
  PairedPipes,
  streamAudioS16,
  type AudioVideoStreams,
  type PipeSource,
} from '../../src/media/ffmpeg/index.js';
import { countingFfmpeg } from '../fixtures/ingestFakes.js';
import { dataDir } from '../fixtures/env.js';

const SAMPLE = join(dataDir, 'samples', 'Oz06ZWiO20M_6.mp4');

let tmp: string;
let ffmpeg: Awaited<ReturnType<typeof countingFfmpeg>>;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'msa-media-av-'));
  ffmpeg = await countingFfmpeg(tmp);
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function collect<T>(items: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const out: T[] = [];
  try {
    for await (const x of items) out.push(x);
  } catch (e) {
    return { items: out, error: e };
  }
  return { items: out, error: null };
}

/** Reads both streams in media-time order, as ingest does. */
async function merged({ audio, video }: AudioVideoStreams) {
  async function* tag<T>(kind: string, items: AsyncIterable<T>, at: (x: T) => number) {
    for await (const x of items) yield { kind, at: at(x) };
  }
  return collect(mergeByTime([tag('audio', audio, (c) => c.startS), tag('video', video, (f) => f.time)]));
}

/** ffmpeg children of this process still there after a second (a killed one takes a moment to be reaped). */
async function ffmpegChildren(): Promise<string[]> {
  const list = () =>
    execFileSync('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(process.pid)])
      .toString()
      .split('\n')
      .filter((l) => /ffmpeg/.test(l));
  for (let i = 0; i < 50 && list().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return list();
}

function assertMediaError(e: unknown, kind: string, input: string, message?: RegExp): void {
  assert.ok(e instanceof MediaError, `expected a MediaError, got ${String(e)}`);
  assert.equal(e.kind, kind, e.message);
  assert.ok(e.message.includes(input), `message names the input: ${e.message}`);
  if (message) assert.match(e.message, message);
}

describe('decodeAudioVideo (one ffmpeg for both)', () => {
  it('decodes the sample clip with one ffmpeg into the same chunks and frames as two', async () => {
    const opts = { ffmpegPath: ffmpeg.path, fps: 2, width: 320, chunkMs: 100 };
    await ffmpeg.reset();
    const both = decodeAudioVideo(SAMPLE, opts);
    const [audio, video] = await Promise.all([collect(both.audio), collect(both.video)]);
    assert.equal((await ffmpeg.starts()).length, 1, 'one ffmpeg');
    const [separateAudio, separateVideo] = await Promise.all([collect(streamAudioS16(SAMPLE, opts)), collect(decodeVideoFrames(SAMPLE, opts))]);
    assert.equal((await ffmpeg.starts()).length, 3, 'two more for the one-modality decoders');
    assert.deepEqual([audio.error, video.error], [null, null]);
    assert.equal(audio.items.length, 75);
    assert.equal(video.items.length, 15);
    assert.deepEqual(audio.items, separateAudio.items);
    assert.deepEqual(video.items, separateVideo.items);
  });

  it('decodes a source with only audio, or only video: the other fails with no-stream, at one extra open', async () => {
    await ffmpeg.reset();
    const sine = decodeAudioVideo('lavfi:sine=frequency=220:duration=2', { ffmpegPath: ffmpeg.path });
    const [audio, noVideo] = await Promise.all([collect(sine.audio), collect(sine.video)]);
    assert.deepEqual([audio.error, audio.items.length, audio.items.reduce((n, c) => n + c.samples.length, 0)], [null, 20, 32000]);
    assert.equal(noVideo.items.length, 0);
    assertMediaError(noVideo.error, 'no-stream', 'lavfi:sine', /cannot decode video of .*: no such stream/);
    assert.equal((await ffmpeg.starts()).length, 2);

    const testsrc = decodeAudioVideo('lavfi:testsrc=size=320x240:rate=10:duration=2', { ffmpegPath: ffmpeg.path, fps: 2, width: 80 });
    const [noAudio, video] = await Promise.all([collect(testsrc.audio), collect(testsrc.video)]);
    assert.deepEqual([video.error, video.items.map((f) => f.time)], [null, [0, 0.5, 1, 1.5]]);
    assertMediaError(noAudio.error, 'no-stream', 'lavfi:testsrc', /cannot decode audio of .*: no such stream/);
  });

  it('reads stdin once for both, and replays it when the input lacks a modality', { timeout: 60_000 }, async () => {
    const mkv = join(tmp, 'av.mkv');
    const av = 'testsrc=duration=1:size=160x120:rate=10[out0];sine=frequency=300:duration=1[out1]';
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', av, '-c:v', 'mjpeg', '-c:a', 'pcm_s16le', mkv]);
    await ffmpeg.reset();
    const both = decodeAudioVideo('-', { ffmpegPath: ffmpeg.path, stdin: createReadStream(mkv, { highWaterMark: 4096 }), fps: 2, width: 80 });
    const [audio, video] = await Promise.all([collect(both.audio), collect(both.video)]);
    assert.deepEqual([audio.error, video.error, audio.items.length, video.items.length], [null, null, 10, 2]);
    assert.equal((await ffmpeg.starts()).length, 1);

    // Audio-only stdin in small pieces: the second ffmpeg gets all of it from the start.
    const wav = join(tmp, 'tone.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=300:duration=2', wav]);
    const tone = decodeAudioVideo('-', { stdin: createReadStream(wav, { highWaterMark: 1024 }) });
    const [pcm, none] = await Promise.all([collect(tone.audio), collect(tone.video)]);
    assert.equal(pcm.error, null);
    assert.equal(
      pcm.items.reduce((n, c) => n + c.samples.length, 0),
      32000,
    );
    assertMediaError(none.error, 'no-stream', '-');
  });

  it('rejects a corrupt or truncated file on both streams with a MediaError naming it', async () => {
    const half = join(tmp, 'half.mp4');
    const whole = await readFile(SAMPLE);
    await writeFile(half, whole.subarray(0, whole.length >> 1));
    const { audio, video } = decodeAudioVideo(half);
    const [a, v] = await Promise.all([collect(audio), collect(video)]);
    assertMediaError(a.error, 'corrupt', 'half.mp4', /cannot decode audio and video of .*: corrupt or truncated/);
    assertMediaError(v.error, 'corrupt', 'half.mp4');
    assertMediaError(await merged(decodeAudioVideo(join(tmp, 'missing.mp4'))).then((r) => r.error), 'not-found', 'missing.mp4');
  });

  it('kills ffmpeg when the consumer stops reading both, or aborts', async () => {
    const endless = 'lavfi:testsrc=size=160x120:rate=10[out0];sine=frequency=300[out1]';
    const { audio, video } = decodeAudioVideo(endless, { fps: 2, width: 80 });
    let n = 0;
    async function* tag<T>(items: AsyncIterable<T>, at: (x: T) => number) {
      for await (const x of items) yield { at: at(x) };
    }
    for await (const _ of mergeByTime([tag(audio, (c) => c.startS), tag(video, (f) => f.time)])) if (++n >= 5) break;
    assert.equal(n, 5);
    assert.deepEqual(await ffmpegChildren(), []);
    const stop = new AbortController();
    const aborted = decodeAudioVideo(endless, { fps: 2, width: 80, signal: stop.signal });
    const reading = merged(aborted);
    setTimeout(() => stop.abort(), 200);
    assertMediaError((await reading).error, 'aborted', 'lavfi:testsrc');
    assert.deepEqual(await ffmpegChildren(), []);
  });

  it('delivers audio muxed far behind its video in media-time order, or fails with limit past maxQueueBytes', { timeout: 60_000 }, async () => {
    // The audio starts 10 s late in the file: ffmpeg writes 10 s of video before the first audio.
    // Holding the video pipe there (10 s > maxAheadS) while the consumer waits for audio would hang.
    const far = join(tmp, 'far.mp4');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=160x120:rate=10:duration=10',
      '-itsoffset',
      '10',
      '-f',
      'lavfi',
      '-i',
      'sine=duration=2',
      '-c:v',
      'mpeg4',
      '-c:a',
      'aac',
      far,
    ]);
    const ok = await merged(decodeAudioVideo(far, { fps: 2, width: 80, maxAheadS: 1 }));
    assert.equal(ok.error, null);
    const kinds = ok.items.map((x) => x.kind);
    assert.deepEqual([kinds.filter((k) => k === 'audio').length, kinds.filter((k) => k === 'video').length], [21, 20]);
    assert.deepEqual(
      ok.items.map((x) => x.at),
      ok.items.map((x) => x.at).sort((a, b) => a - b),
    );

    const tooFar = await merged(decodeAudioVideo(far, { fps: 2, width: 80, maxQueueBytes: 100_000 }));
    assertMediaError(
      tooFar.error,
      'limit',
      far,
      /the audio and video are too far apart: \d+ bytes .* of video queued while waiting for audio, over the limit of 100000 bytes \(maxQueueBytes\)/,
    );
    assert.deepEqual(await ffmpegChildren(), []);
  });
});

/** A fake pipe of 1 s items: each write of `n` bytes is one item, numbered from 0. */
function source(name: string): PipeSource<{ t: number; size: number }> & { pipe: PassThrough } {
  let t = 0;
  return { name, pipe: new PassThrough(), parse: (d) => [{ t: t++, size: d.length }], end: () => [], timeOf: (x) => x.t, sizeOf: (x) => x.size };
}

/** Waits until the stream events written so far have been handled. */
const settle = () => new Promise((r) => setImmediate(r));

describe('PairedPipes (the queues between ffmpeg and the consumer)', () => {
  it('pauses a pipe ahead of the consumer, and lets it flow again while the consumer waits on the other', async () => {
    const audio = source('audio');
    const video = source('video');
    let stopped = 0;
    const pipes = new PairedPipes('in.mp4', audio, video, { maxAheadS: 2, maxQueueBytes: 1000 }, { exited: async () => {}, stop: () => stopped++ });
    for (let i = 0; i < 5; i++) video.pipe.write(Buffer.alloc(10));
    await settle();
    assert.equal(video.pipe.isPaused(), true, 'video paused: 3 s queued and nobody waits on audio');
    assert.equal(audio.pipe.isPaused(), false);
    const reading = pipes.read(pipes.a).next(); // the consumer now waits on audio
    await settle();
    assert.equal(video.pipe.isPaused(), false, 'video flows while the consumer waits on audio');
    audio.pipe.write(Buffer.alloc(10));
    assert.deepEqual((await reading).value, { t: 0, size: 10 });
    await settle();
    assert.equal(video.pipe.isPaused(), true, 'held again once audio came');
    const videoItems = pipes.read(pipes.b);
    for (let i = 0; i < 4; i++) assert.equal((await videoItems.next()).value?.t, i);
    await settle();
    assert.equal(video.pipe.isPaused(), false, 'resumed once drained below the limit');
    await videoItems.return(undefined);
    assert.equal(stopped, 0, 'audio is still read');
  });

  it('fails both streams with limit when a queue passes maxQueueBytes while the other is awaited', { timeout: 10_000 }, async () => {
    const audio = source('audio');
    const video = source('video');
    let stopped = 0;
    const pipes = new PairedPipes('rtmp://cam/1', audio, video, { maxAheadS: 2, maxQueueBytes: 1000 }, { exited: async () => {}, stop: () => stopped++ });
    const waiting = collect(pipes.read(pipes.a)); // the consumer waits on audio; video piles up
    for (let i = 0; i < 20; i++) video.pipe.write(Buffer.alloc(100));
    const a = await waiting;
    const v = await collect(pipes.read(pipes.b));
    assertMediaError(a.error, 'limit', 'rtmp://cam/1', /the audio and video are too far apart: 1100 bytes \(10\.0 s\) of video queued while waiting for audio/);
    assert.equal(v.error, a.error);
    assert.ok(stopped >= 1, 'ffmpeg stopped');
  });

  it('ends with what ffmpeg says once a pipe ended, and stops ffmpeg when both are done', async () => {
    const audio = source('audio');
    const video = source('video');
    let stopped = 0;
    const failed = new MediaError('cannot decode audio and video of x.mp4: corrupt or truncated media', 'corrupt', 'x.mp4');
    const pipes = new PairedPipes(
      'x.mp4',
      audio,
      video,
      { maxAheadS: 2, maxQueueBytes: 1000 },
      { exited: () => Promise.reject(failed), stop: () => stopped++ },
    );
    audio.pipe.end(Buffer.alloc(10));
    video.pipe.end();
    const [a, v] = await Promise.all([collect(pipes.read(pipes.a)), collect(pipes.read(pipes.b))]);
    assert.deepEqual([a.items.length, a.error, v.items.length, v.error], [1, failed, 0, failed]);
    assert.equal(stopped, 1);
  });
});
