/**
 * `ingest()` without Kafka: ordering, subtitles as an ASR would send them, missing modalities,
 * end-of-stream records, real ffmpeg decoding (lavfi, stdin, a corrupt file), pacing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { mergeByTime } from '../../src/ingest/connection.js';
import { autoSampleRate, ingest, sourceKind, type MediaPort } from '../../src/ingest/ingest.js';
import { parseSubtitles } from '../../src/ingest/subtitles.js';
import { MediaError } from '../../src/media/ffmpeg/index.js';
import type { AudioChunk, TranscriptSegment, VideoFrame } from '../../src/schemas/records.js';
import { memorySender } from '../fixtures/ingestFakes.js';

const T0 = 1_700_000_000_000;
const AV = 'lavfi:testsrc=duration=2:size=160x120:rate=10[out0];sine=frequency=300:duration=2[out1]';

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'msa-ingest-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function* items<T>(list: T[], failAfter?: Error): AsyncGenerator<T> {
  for (const x of list) yield x;
  if (failAfter) throw failAfter;
}

/** Audio chunks of 100 ms for `seconds`; video that the source lacks. */
function audioOnly(seconds: number): MediaPort {
  return {
    audio: () => items(Array.from({ length: seconds * 10 }, (_, i) => ({ startS: i / 10, sampleRate: 16000, samples: new Int16Array(1600) }))),
    video: (input) => items([], new MediaError(`cannot decode video of ${input}: no such stream in the input`, 'no-stream', input)),
  };
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

describe('ingest', () => {
  it('names source kinds; only URLs are live', () => {
    assert.equal(sourceKind('-'), 'stdin');
    assert.equal(sourceKind('lavfi:sine'), 'lavfi');
    assert.equal(sourceKind('rtsp://cam/1'), 'url');
    assert.equal(sourceKind('https://x/y.m3u8'), 'url');
    assert.equal(sourceKind('file:///tmp/a.mp4'), 'file');
    assert.equal(sourceKind('C:/a.mp4'), 'file');
    assert.equal(sourceKind('talk.mp4'), 'file');
  });

  it('merges sorted streams by time and stops all on the first failure', async () => {
    const a = items([{ at: 0 }, { at: 100 }, { at: 200 }]);
    const b = items([{ at: 50 }, { at: 100 }, { at: 300 }]);
    const merged: number[] = [];
    for await (const x of mergeByTime([a, b])) merged.push(x.at);
    assert.deepEqual(merged, [0, 50, 100, 100, 200, 300]);
    let stopped = 0;
    const failing = mergeByTime([items([{ at: 0 }], new Error('boom')), items([{ at: 10 }, { at: 20 }])], () => stopped++);
    await assert.rejects(async () => {
      for await (const _ of failing) void _;
    }, /boom/);
    assert.equal(stopped, 1);
  });

  it('sends subtitle cues when media time reaches their end, and ends every modality', async () => {
    const cues = parseSubtitles(
      [
        '1',
        '00:00:00,500 --> 00:00:01,200',
        'a b',
        '',
        '2',
        '00:00:01,000 --> 00:00:02,500',
        'c',
        '',
        '3',
        '00:00:02,800 --> 00:00:04,000',
        'runs past the end',
        '',
        '4',
        '00:00:05,000 --> 00:00:06,000',
        'after the end',
      ].join('\n'),
    );
    const sender = memorySender();
    const summary = await ingest('talk.mp4', {
      sessionId: 's',
      sender,
      media: audioOnly(3),
      subtitles: cues,
      startTime: T0,
      realtime: false,
      batchSize: 1,
      language: 'en',
    });
    assert.deepEqual(summary.records, { audio: 31, video: 0, transcript: 3 });
    assert.equal(summary.droppedCues, 1);
    assert.equal(summary.mediaMs, 3000);
    // Each segment goes out after the last audio chunk before its cue's end.
    const order = sender.sent.map((r) => (r.kind === 'audio' ? `a${r.value.eventTime - T0}` : `t${(r.value as unknown as TranscriptSegment).endTime - T0}`));
    assert.ok(order.indexOf('t1200') > order.indexOf('a1100') && order.indexOf('t1200') < order.indexOf('a1300'), order.join(' '));
    assert.ok(order.indexOf('t2500') > order.indexOf('a2400') && order.indexOf('t2500') < order.indexOf('a2600'), order.join(' '));
    const segments = sender.of<TranscriptSegment>('transcript');
    assert.deepEqual(
      segments.map((s) => [s.text, s.endOfStream]),
      [
        ['a b', false],
        ['c', false],
        ['runs past the end', true],
      ],
    );
    assert.deepEqual(
      segments[0]!.words.map((w) => [w.word, w.start - T0, w.end - T0]),
      [
        ['a', 500, 850],
        ['b', 850, 1200],
      ],
    );
    assert.equal(segments[0]!.language, 'en');
    const audio = sender.of<AudioChunk>('audio');
    assert.deepEqual(audio.at(-1), {
      sessionId: 's',
      seq: 30,
      eventTime: T0 + 3000,
      sampleRate: 16000,
      encoding: 'S16LE',
      samples: Buffer.alloc(0),
      endOfStream: true,
    });
  });

  it('rejects media with none of the wanted streams, and options out of range', async () => {
    await assert.rejects(
      ingest('a.mp4', { sessionId: 's', sender: memorySender(), media: audioOnly(1), audio: false }),
      (e: unknown) => e instanceof MediaError && e.kind === 'no-stream' && /has no video stream/.test(e.message),
    );
    await assert.rejects(ingest('a.mp4', { sessionId: ' ', sender: memorySender() }), /session id must be a non-blank string, got " "/);
    await assert.rejects(ingest('a.mp4', { sessionId: 's', sender: memorySender(), chunkMs: 500 }), /audio chunk length .* \[20, 200\], got 500/);
    await assert.rejects(ingest('a.mp4', { sessionId: 's', sender: memorySender(), audio: false, video: false }), /both audio and video are turned off/);
    await assert.rejects(
      ingest('a.mp4', { sessionId: 's', sender: memorySender(), subtitles: join(tmp, 'missing.srt') }),
      /cannot read subtitles .*missing\.srt: ENOENT/,
    );
  });

  it('--sample-rate auto: an 8 kHz file (telephone audio) keeps 8 kHz, anything else is sent at 16 kHz', async () => {
    const phone = join(tmp, 'phone.wav');
    const wide = join(tmp, 'wide.wav');
    execFileSync('ffmpeg', [
      '-nostdin',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:duration=1',
      '-ar',
      '8000',
      '-c:a',
      'pcm_mulaw',
      phone,
    ]);
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-ar', '44100', wide]);
    assert.equal(await autoSampleRate(phone), 8000);
    assert.equal(await autoSampleRate(wide), 16000);
    assert.equal(await autoSampleRate('lavfi:sine=sample_rate=8000'), 16000);
    assert.equal(await autoSampleRate(join(tmp, 'missing.wav')), 16000);
    const sender = memorySender();
    const summary = await ingest(phone, { sessionId: 'ph', sender, startTime: T0, realtime: false, video: false, sampleRate: await autoSampleRate(phone) });
    assert.equal(summary.sampleRate, 8000);
    const audio = sender.of<AudioChunk>('audio').filter((a) => !a.endOfStream);
    assert.ok(audio.length >= 10);
    assert.ok(audio.every((a) => a.sampleRate === 8000));
    assert.equal(audio[0]!.samples.length, 1600); // 100 ms of 8 kHz S16LE
  });

  it('decodes audio and video with ffmpeg into contiguous chunks and JPEG frames', async () => {
    const sender = memorySender();
    const summary = await ingest(AV, { sessionId: 'lv', sender, startTime: T0, realtime: false, videoWidth: 80 });
    assert.deepEqual(summary.records, { audio: 21, video: 5, transcript: 0 });
    const audio = sender.of<AudioChunk>('audio');
    audio.slice(0, -1).forEach((a, i) => {
      assert.equal(a.seq, i);
      assert.equal(a.eventTime, T0 + i * 100);
      assert.equal(a.samples.length, 3200);
    });
    const video = sender.of<VideoFrame>('video');
    assert.deepEqual(
      video.map((v) => v.eventTime - T0),
      [0, 500, 1000, 1500, 2000],
    );
    assert.deepEqual([video[0]!.format, video[0]!.width, video[0]!.height, video[0]!.data.subarray(0, 2).toString('hex')], ['JPEG', 80, 60, 'ffd8']);
    assert.deepEqual([video[4]!.endOfStream, video[4]!.data.length], [true, 0]);
  });

  it('reads stdin once for both decoders, and sends raw RGB24 frames', async () => {
    const mkv = execFileSync('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      AV.slice('lavfi:'.length),
      '-t',
      '1',
      '-c:v',
      'mjpeg',
      '-c:a',
      'pcm_s16le',
      '-f',
      'matroska',
      'pipe:1',
    ]);
    const sender = memorySender();
    const summary = await ingest('-', { sessionId: 'in', sender, stdin: Readable.from([mkv]), realtime: false, videoWidth: 80, videoFormat: 'RGB24' });
    assert.deepEqual(summary.records, { audio: 11, video: 3, transcript: 0 });
    const frame = sender.of<VideoFrame>('video')[0]!;
    assert.deepEqual([frame.format, frame.data.length], ['RGB24', 80 * 60 * 3]);
  });

  it('rejects a corrupt file with a MediaError naming it, leaving no ffmpeg behind', async () => {
    const bad = join(tmp, 'corrupt.mp4');
    await writeFile(bad, Buffer.from('this is not a video file at all, just some text'.repeat(100)));
    const sender = memorySender();
    await assert.rejects(
      ingest(bad, { sessionId: 's', sender, realtime: false }),
      (e: unknown) => e instanceof MediaError && e.kind === 'corrupt' && e.message.includes(bad),
    );
    assert.equal(sender.sent.length, 0);
    assert.deepEqual(await ffmpegChildren(), []);
  });

  it('paces a file to real time unless told not to, and stops when aborted', async () => {
    const started = Date.now();
    const sender = memorySender();
    await ingest('lavfi:sine=duration=1', { sessionId: 's', sender, video: false });
    const wall = Date.now() - started;
    assert.ok(wall >= 850, `1 s of audio took ${wall} ms`);
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 300);
    const summary = await ingest('lavfi:sine', { sessionId: 's', sender: memorySender(), video: false, signal: stop.signal });
    assert.equal(summary.ended, 'aborted');
    assert.ok(summary.records.audio >= 2 && summary.records.audio <= 6, `sent ${summary.records.audio} chunks in 300 ms`);
    assert.deepEqual(await ffmpegChildren(), []);
  });
});
