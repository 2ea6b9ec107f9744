import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { decodeAudio, decodeVideoFrames, MediaError, PpmParser, probe, streamAudio, streamAudioS16 } from '../../src/media/ffmpeg/index.js';
import { dataDir } from '../fixtures/env.js';

const SAMPLE = join(dataDir, 'samples', 'Oz06ZWiO20M_6.mp4');

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'msa-media-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, kind: string, input: string): Promise<MediaError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof MediaError, `expected a MediaError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    assert.ok(e.message.includes(input), `message names the input: ${e.message}`);
    return e;
  }
  assert.fail(`expected ${kind} for ${input}`);
}

describe('ffmpeg adapter', () => {
  it('decodes a lavfi sine to 16 kHz mono float PCM', async () => {
    const pcm = await decodeAudio('lavfi:sine=frequency=220:duration=1', { sampleRate: 16000 });
    assert.equal(pcm.length, 16000);
    const peak = pcm.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    assert.ok(peak > 0.05 && peak <= 1, `peak ${peak}`);
  });

  it('streams fixed-size chunks with start times, float and s16', async () => {
    const chunks = [];
    for await (const c of streamAudio('lavfi:sine=frequency=440:duration=0.5', { chunkMs: 100 })) chunks.push(c);
    assert.deepEqual(
      chunks.map((c) => c.samples.length),
      [1600, 1600, 1600, 1600, 1600],
    );
    assert.deepEqual(
      chunks.map((c) => c.startS),
      [0, 0.1, 0.2, 0.3, 0.4],
    );
    const s16 = [];
    for await (const c of streamAudioS16('lavfi:sine=frequency=440:duration=0.25', { chunkMs: 100 })) s16.push(c);
    assert.ok(s16[0]!.samples instanceof Int16Array);
    assert.deepEqual(
      s16.map((c) => c.samples.length),
      [1600, 1600, 800],
    );
  });

  it('bounds decoding with maxDurationS and stops ffmpeg when the consumer breaks', async () => {
    const pcm = await decodeAudio('lavfi:sine=frequency=220', { maxDurationS: 0.3 });
    assert.equal(pcm.length, 4800);
    let n = 0;
    for await (const _ of streamAudio('lavfi:sine=frequency=220', { chunkMs: 20 })) if (++n >= 3) break;
    assert.equal(n, 3);
  });

  it('decodes RGB frames of a test pattern at the asked fps and width', async () => {
    const frames = [];
    for await (const f of decodeVideoFrames('lavfi:testsrc=size=640x480:rate=25:duration=1', { fps: 5, width: 320 })) frames.push(f);
    assert.equal(frames.length, 5);
    assert.deepEqual([frames[0]!.width, frames[0]!.height, frames[0]!.data.length], [320, 240, 320 * 240 * 3]);
    assert.deepEqual(
      frames.map((f) => f.time),
      [0, 0.2, 0.4, 0.6, 0.8],
    );
  });

  it('probes the sample clip', async () => {
    const p = await probe(SAMPLE);
    assert.ok(p.hasAudio && p.hasVideo);
    assert.ok(Math.abs(p.durationS! - 7.5) < 0.2, `duration ${p.durationS}`);
    assert.equal(p.video?.width, 480);
  });

  it('reads stdin (a Buffer here) and treats a still image as one frame', async () => {
    const png = join(tmp, 'still.png');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=160x120', '-frames:v', '1', png]);
    const frames = [];
    for await (const f of decodeVideoFrames(png, { fps: 4, width: 80 })) frames.push(f);
    assert.equal(frames.length, 1);
    assert.deepEqual([frames[0]!.width, frames[0]!.height], [80, 60]);
    const wav = join(tmp, 'tone.wav');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=300:duration=0.5', wav]);
    const pcm = await decodeAudio('-', { stdin: await readFile(wav) });
    assert.equal(pcm.length, 8000);
  });

  it('says clearly when the file is missing', async () => {
    const e = await rejectsWith(decodeAudio(join(tmp, 'nope.mp4')), 'not-found', 'nope.mp4');
    assert.match(e.message, /no such file/);
  });

  it('says clearly when the file is corrupt (random bytes)', async () => {
    const p = join(tmp, 'random.mp4');
    await writeFile(p, Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 7919 + 13) % 251)));
    const e = await rejectsWith(decodeAudio(p), 'corrupt', 'random.mp4');
    assert.ok(e.stderrTail.length > 0);
  });

  it('says clearly when an mp4 is truncated', async () => {
    const whole = await readFile(SAMPLE);
    const p = join(tmp, 'half.mp4');
    await writeFile(p, whole.subarray(0, whole.length >> 1));
    const e = await rejectsWith(
      probe(p).then(() => decodeAudio(p)),
      'corrupt',
      'half.mp4',
    );
    assert.match(e.message, /moov atom not found|Invalid data/);
  });

  it('says clearly when a URL refuses the connection', async () => {
    await rejectsWith(decodeAudio('http://127.0.0.1:1/x.mp4'), 'network', 'http://127.0.0.1:1/x.mp4');
  });

  it('says clearly when the codec is unsupported', async () => {
    const wav = join(tmp, 'odd.wav');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=duration=0.2', '-c:a', 'pcm_s16le', wav]);
    const b = await readFile(wav);
    b.writeUInt16LE(0x7777, 20); // WAVE format tag no decoder knows
    await writeFile(wav, b);
    await rejectsWith(decodeAudio(wav), 'unsupported-codec', 'odd.wav');
  });

  it('refuses inputs over maxInputBytes', async () => {
    await rejectsWith(decodeAudio(SAMPLE, { maxInputBytes: 1000 }), 'limit', SAMPLE);
    await rejectsWith(decodeAudio('-', { stdin: Buffer.alloc(5000), maxInputBytes: 1000 }), 'limit', '-');
  });

  it('parses PPM frames split across chunks', () => {
    const header = Buffer.from('P6\n2 1\n255\n');
    const frame = Buffer.concat([header, Buffer.from([1, 2, 3, 4, 5, 6])]);
    const both = Buffer.concat([frame, frame]);
    const parser = new PpmParser();
    const out = [...parser.push(both.subarray(0, 7)), ...parser.push(both.subarray(7, 20)), ...parser.push(both.subarray(20))];
    assert.equal(out.length, 2);
    assert.deepEqual([...out[1]!.data], [1, 2, 3, 4, 5, 6]);
  });
});
