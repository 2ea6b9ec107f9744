// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * `msa ingest` against a real broker (env KAFKA_BROKERS, default 127.0.0.1:9092), on topics of its
 * own: the sample video with subtitles goes in, the audio, video and transcript topics are read
 * back and checked (one ffmpeg decodes both audio and video: counted with a wrapper first on
 * PATH); a corrupt file and a refusing URL fail with clear errors.
 * The sample lives in the data folder: env MSA_DATA_DIR, else <repo>/../shared/data.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { register } from '../../src/cli/commands/ingest.js';
import { MediaError } from '../../src/media/ffmpeg/index.js';
import { createCodec } from '../../src/schemas/codec.js';
import type { AudioChunk, InputKind, TranscriptSegment, VideoFrame } from '../../src/schemas/records.js';
import { createKafka } from '../../src/transport/kafka/index.js';
import { topicNames } from '../../src/transport/topics.js';
import { countingFfmpeg } from '../fixtures/ingestFakes.js';
import { brokers, dataDir } from '../fixtures/env.js';

const SAMPLE = join(dataDir, 'samples', 'Oz06ZWiO20M_6.mp4');
const run = randomUUID().slice(0, 8);
const prefix = `it-ingest-${run}.`;
const names = topicNames({ prefix });

let tmp: string;
let configFile: string;
let kafka: Kafka;
let admin: Admin;
let consumer: Consumer | undefined;

const SRT = `1
00:00:00,500 --> 00:00:02,000
<i>Hello</i> and welcome

2
00:00:02,500 --> 00:00:04,000
this is a
two line cue

3
00:00:05,000 --> 00:00:07,000
goodbye
`;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'msa-it-ingest-'));
  configFile = join(tmp, 'config.json');
  await writeFile(configFile, JSON.stringify({ kafka: { brokers, topicPrefix: prefix, partitions: 2 } }));
  await writeFile(join(tmp, 'talk.srt'), SRT);
  kafka = createKafka({ brokers, clientId: `it-ingest-${run}` });
  admin = kafka.admin();
  await admin.connect();
});

after(async () => {
  await consumer?.disconnect().catch(() => undefined);
  await admin?.deleteTopics({ topics: [names.audio, names.video, names.transcript, names.scores, names.deadLetter, names.late] }).catch(() => undefined);
  await admin?.disconnect();
  await rm(tmp, { recursive: true, force: true });
});

/** Runs `msa ingest ...args` in this process; resolves with what it printed. */
async function msaIngest(...args: string[]): Promise<string> {
  let out = '';
  const program = new Command('msa')
    .exitOverride()
    .configureOutput({ writeOut: (text) => (out += text) })
    .option('--config <file>')
    .option('--log-level <level>')
    .enablePositionalOptions();
  register(program);
  await program.parseAsync(['node', 'msa', '--config', configFile, '--log-level', 'error', 'ingest', ...args]);
  return out;
}

/** Reads every record of the input topics for `sessionId` until each kind's endOfStream arrived. */
async function readSession(sessionId: string, timeoutMs = 25_000) {
  const codec = createCodec();
  const got = { audio: [] as AudioChunk[], video: [] as VideoFrame[], transcript: [] as TranscriptSegment[] };
  const kindOf: Record<string, InputKind> = { [names.audio]: 'audio', [names.video]: 'video', [names.transcript]: 'transcript' };
  const keys = new Set<string>();
  consumer = kafka.consumer({ groupId: `it-ingest-${run}-reader`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: Object.keys(kindOf), fromBeginning: true });
  const ended = () => got.audio.at(-1)?.endOfStream && got.video.at(-1)?.endOfStream && got.transcript.at(-1)?.endOfStream;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`timed out reading the session: ${got.audio.length} audio, ${got.video.length} video, ${got.transcript.length} transcript records`)),
      timeoutMs,
    );
    void consumer!.run({
      eachMessage: async ({ topic, message }) => {
        const kind = kindOf[topic]!;
        const decoded = codec.decode(message.value, kind);
        if (!decoded.ok) return reject(new Error(`${topic}: ${decoded.reason}`));
        if (decoded.value.sessionId !== sessionId) return;
        keys.add(message.key?.toString() ?? '(none)');
        (got[kind] as unknown[]).push(decoded.value);
        if (ended()) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  return { ...got, keys };
}

test('ingests the sample video with subtitles: contiguous audio, 2 fps frames, timed transcript, endOfStream', { timeout: 60_000 }, async () => {
  const session = `talk-${run}`;
  const startTime = 1_700_000_000_000;
  const ffmpeg = await countingFfmpeg(tmp);
  const path = process.env.PATH;
  process.env.PATH = `${ffmpeg.dir}:${path}`;
  let printed: string;
  try {
    printed = await msaIngest(
      SAMPLE,
      '--session',
      session,
      '--fast',
      '--subtitles',
      join(tmp, 'talk.srt'),
      '--start-time',
      String(startTime),
      '--language',
      'en',
    );
  } finally {
    process.env.PATH = path;
  }
  assert.equal((await ffmpeg.starts()).length, 1, 'one ffmpeg for audio and video: the file is opened once');
  assert.match(printed, new RegExp(`ingested .*Oz06ZWiO20M_6\\.mp4 \\(file\\) as session ${session}: 7\\.\\d\\d s of media`));
  assert.match(printed, /\d+ audio chunks at 16000 Hz\n.*16 video frames\n.*3 transcript segments/);

  const { audio, video, transcript, keys } = await readSession(session);
  assert.deepEqual([...keys], [session], 'keyed by session');

  // Audio: 16 kHz mono S16LE, seq 0..n, each chunk starting where the previous one ended.
  let samples = 0;
  audio.forEach((a, i) => {
    assert.equal(a.seq, i);
    assert.equal(a.sampleRate, 16000);
    assert.equal(a.eventTime, startTime + Math.round((samples * 1000) / 16000), `chunk ${i} starts where the audio so far ends`);
    assert.equal(a.endOfStream, i === audio.length - 1);
    samples += a.samples.length / 2;
  });
  assert.ok(Math.abs(samples / 16000 - 7.5) < 0.1, `audio covers ${samples / 16000} s`);
  assert.ok(
    audio.slice(0, -2).every((a) => a.samples.length === 3200),
    'full chunks are 100 ms',
  );

  // Video: JPEG frames 320 px wide at 2 fps, then an empty end-of-stream frame.
  const frames = video.filter((v) => !v.endOfStream);
  assert.equal(frames.length, 15);
  frames.forEach((v, i) => {
    assert.equal(v.seq, i);
    assert.equal(v.eventTime, startTime + i * 500);
    assert.deepEqual([v.format, v.width, v.height, v.data.subarray(0, 2).toString('hex')], ['JPEG', 320, 240, 'ffd8']);
  });
  assert.deepEqual([video.length, video.at(-1)!.endOfStream, video.at(-1)!.data.length], [16, true, 0]);

  // Transcript: one final segment per cue, words spread over the cue, the last one ending the stream.
  assert.deepEqual(
    transcript.map((s) => [s.text, s.eventTime - startTime, s.endTime - startTime, s.isFinal, s.language, s.endOfStream]),
    [
      ['Hello and welcome', 500, 2000, true, 'en', false],
      ['this is a two line cue', 2500, 4000, true, 'en', false],
      ['goodbye', 5000, 7000, true, 'en', true],
    ],
  );
  assert.deepEqual(
    transcript[0]!.words.map((w) => [w.word, w.start - startTime, w.end - startTime]),
    [
      ['Hello', 500, 1000],
      ['and', 1000, 1500],
      ['welcome', 1500, 2000],
    ],
  );
  assert.equal(transcript[1]!.words.length, 6);
});

test('a corrupt file fails with a clear MediaError', { timeout: 20_000 }, async () => {
  const bad = join(tmp, 'truncated.mp4');
  const { readFile } = await import('node:fs/promises');
  await writeFile(bad, (await readFile(SAMPLE)).subarray(0, 4096));
  await assert.rejects(
    msaIngest(bad, '--session', `bad-${run}`, '--fast'),
    (e: unknown) => e instanceof MediaError && e.kind === 'corrupt' && e.message.includes(bad) && /corrupt or truncated/.test(e.message),
  );
});

test('a refusing URL fails after the retries with a clear error', { timeout: 20_000 }, async () => {
  const started = Date.now();
  await assert.rejects(
    msaIngest('http://127.0.0.1:1/x.mp4', '--session', `url-${run}`, '--max-retries', '1'),
    (e: unknown) =>
      e instanceof MediaError &&
      e.kind === 'network' &&
      /^http:\/\/127\.0\.0\.1:1\/x\.mp4: gave up after 2 failed attempts in a row; last error: cannot decode .* could not read the URL/.test(e.message),
  );
  const took = Date.now() - started;
  assert.ok(took >= 800, `one backoff wait of 0.8-1 s, took ${took} ms`);
});
