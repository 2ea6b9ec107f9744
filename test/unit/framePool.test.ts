/**
 * Voice DSP in worker threads (src/features/acoustic/framePool.ts): on a real recording, as live
 * chunks of several sessions (16 kHz, and 48 kHz through the resampler), the workers give the
 * frames the stream in this thread gives, bit for bit; each session's state lives in one worker
 * and is freed when the session ends; a worker that dies is replaced, never a hang.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { streamAudioS16 } from '../../src/media/ffmpeg/index.js';
import { AcousticFrameStream } from '../../src/features/acoustic/frameStream.js';
import { startAcousticFramePool, type AcousticFramePool } from '../../src/features/acoustic/framePool.js';
import type { AudioChunk, InputRecord } from '../../src/schemas/records.js';
import type { Positioned } from '../../src/windows/types.js';
import { silentLogger } from '../../src/log.js';
import { firstValueFrom, from, toArray } from 'rxjs';
import { loadCodebook } from '../../src/features/codebook.js';
import { createPipelineFeatures } from '../../src/features/stage.js';
import { packageRoot } from '../../src/paths.js';
import { dataDir } from '../fixtures/env.js';

const WAV = join(dataDir, 'samples', '03bSnISJMiM_1.wav');
const T0 = 1_700_000_000_000;

/** The recording as live 100 ms chunks of session `id` at `rate` Hz (the last one ends the stream). */
async function chunksOf(id: string, rate: number): Promise<AudioChunk[]> {
  const out: AudioChunk[] = [];
  let seq = 0;
  for await (const c of streamAudioS16(WAV, { sampleRate: rate, chunkMs: 100 })) {
    const samples = Buffer.from(c.samples.buffer, c.samples.byteOffset, c.samples.byteLength);
    out.push({ sessionId: id, seq, eventTime: T0 + seq * 100, sampleRate: rate, encoding: 'S16LE', samples: Buffer.from(samples), endOfStream: false });
    seq++;
  }
  out[out.length - 1]!.endOfStream = true;
  return out;
}

describe('voice DSP in worker threads', { timeout: 120_000 }, () => {
  let pool: AcousticFramePool;
  let sessions: AudioChunk[][];

  before(async () => {
    sessions = [await chunksOf('a', 16_000), await chunksOf('b', 48_000), await chunksOf('c', 16_000), await chunksOf('d', 8_000)];
    pool = await startAcousticFramePool({ workers: 2, logger: silentLogger });
  });
  after(async () => {
    await pool?.release();
  });

  it('gives the frames of the stream in this thread, bit for bit, for interleaved sessions at 8, 16 and 48 kHz', async () => {
    const local = new AcousticFrameStream();
    // Interleaved as they arrive live: chunk k of every session, then chunk k + 1.
    const longest = Math.max(...sessions.map((s) => s.length));
    const order: AudioChunk[] = [];
    for (let k = 0; k < longest; k++) for (const s of sessions) if (s[k]) order.push(s[k]!);
    for (const c of order) local.accept(c);
    // Open streams mid-way (chunk k of each in flight): all sent at once, as the stage does.
    const whys = await Promise.all(order.map((c) => pool.accept(c)));
    assert.ok(whys.every((w) => w === null));
    let frames = 0;
    for (const c of order) {
      const want = local.framesOf(c);
      const got = pool.framesOf(c);
      assert.deepEqual(got?.times, want?.times, `session ${c.sessionId} chunk ${c.seq}: times`);
      assert.deepEqual(got?.frames, want?.frames, `session ${c.sessionId} chunk ${c.seq}: frames`);
      frames += want?.times.length ?? 0;
    }
    assert.ok(frames > 1000, `${frames} frames compared`);
    assert.deepEqual(
      { chunks: pool.stats.chunks, frames: pool.stats.frames, resampled: pool.stats.resampled },
      { chunks: local.stats.chunks, frames: local.stats.frames, resampled: local.stats.resampled },
    );
    // Every stream ended (endOfStream): nothing held in the workers.
    assert.deepEqual(pool.open(), { sessions: 0, resamplers: 0 });
  });

  it('frees a session that expires (its resampler too) in its worker', async () => {
    const b = await chunksOf('expiring', 48_000);
    for (const c of b.slice(0, 5)) await pool.accept(c);
    assert.deepEqual(pool.open(), { sessions: 1, resamplers: 1 });
    await pool.end('expiring');
    assert.deepEqual(pool.open(), { sessions: 0, resamplers: 0 });
    // And all of them when the stage is torn down.
    for (const s of ['x', 'y', 'z']) for (const c of sessions[1]!.slice(0, 3)) await pool.accept({ ...c, sessionId: s });
    assert.deepEqual(pool.open(), { sessions: 3, resamplers: 3 });
    await pool.endAll();
    assert.deepEqual(pool.open(), { sessions: 0, resamplers: 0 });
  });

  it('a worker that dies is replaced: the chunk is run again there, and later chunks are analysed', async () => {
    const c = sessions[0]!.slice(0, 4).map((x) => ({ ...x, sessionId: 'crash' }));
    const running = c.map((x) => pool.accept(x));
    const shard = pool.poolStats().findIndex((s) => s.busy + s.queued > 0);
    assert.ok(shard >= 0);
    await pool.terminateWorker(shard);
    await Promise.all(running);
    assert.equal(pool.poolStats()[shard]!.crashes, 1);
    assert.ok(pool.framesOf(c[3]!), 'frames after the crash');
  });

  it('the feature stage with the workers gives each window the acoustic ids it gives in this thread, records in order', async () => {
    const acoustic = await loadCodebook(join(packageRoot(), 'models', 'codebooks', 'acoustic.json'));
    const records: Positioned<InputRecord>[] = sessions.flatMap((s, i) =>
      s.map((c) => ({ value: { kind: 'audio' as const, value: { ...c, sessionId: `stage-${i}` } } })),
    );
    const run = async (voiceDsp: AcousticFramePool | null) => {
      const features = createPipelineFeatures({ codebooks: { acoustic, visual: null }, windowSizeMs: 6000, logger: silentLogger, voiceDsp });
      const out = await firstValueFrom(from(records).pipe(features.extract, toArray()));
      assert.equal(out.length, records.length, 'every record passes');
      for (let i = 0; i < sessions.length; i++) {
        const mine = (rs: Positioned<InputRecord>[]) => rs.filter((r) => r.value.value.sessionId === `stage-${i}`);
        assert.deepEqual(mine(out), mine(records), `session ${i} in order`);
      }
      const ids = [];
      for (let i = 0; i < sessions.length; i++) {
        const audio = out.filter((r) => r.value.value.sessionId === `stage-${i}`).map((r) => r.value.value as AudioChunk);
        for (let start = T0; start < T0 + audio.length * 100; start += 1000) {
          const window = {
            sessionId: `stage-${i}`,
            start,
            end: start + 6000,
            audio: audio.filter((c) => c.eventTime >= start && c.eventTime < start + 6000),
            video: [],
            transcript: [],
            positions: [],
            closedAt: 0,
          };
          ids.push(features.nonVerbal!(window));
        }
      }
      return { ids, stats: features.stats.audio, workers: features.workers() };
    };
    const inThread = await run(null);
    const workers = await run(pool);
    assert.ok(
      inThread.ids.some((w) => w.acousticIds.length > 0),
      'some windows have ids',
    );
    assert.deepEqual(workers.ids, inThread.ids);
    assert.equal(workers.stats.shed + workers.stats.failed, 0);
    // The pools' counters, summed for /metrics (msa_worker_*{pool="voice-dsp"}); none in this thread.
    assert.deepEqual(inThread.workers, {});
    const dsp = workers.workers['voice-dsp'];
    assert.equal(dsp?.workers, 2);
    assert.equal(
      dsp?.crashes,
      pool.poolStats().reduce((a, s) => a + s.crashes, 0),
    );
  });
});
