/**
 * Reconnecting live sources: the backoff schedule (pure, injected randomness) and ingest's
 * reconnect loop over a fake media port (drops, refusals, event time continuing from the clock).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ingest, type MediaPort } from '../../src/ingest/ingest.js';
import { backoffDelay, backoffPolicy, createBackoff, DEFAULT_BACKOFF } from '../../src/ingest/reconnect.js';
import { MediaError } from '../../src/media/ffmpeg/index.js';
import type { AudioChunk } from '../../src/schemas/records.js';
import { memoryLogger, memorySender } from '../fixtures/ingestFakes.js';

describe('backoff schedule', () => {
  it('doubles from 1 s to a 30 s cap', () => {
    const delays = Array.from({ length: 8 }, (_, i) => backoffDelay(i + 1, DEFAULT_BACKOFF, () => 0));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('takes up to `jitter` of each wait off at random', () => {
    assert.equal(
      backoffDelay(1, DEFAULT_BACKOFF, () => 0.999999),
      800,
    );
    assert.equal(
      backoffDelay(3, DEFAULT_BACKOFF, () => 0.5),
      3600,
    );
    assert.equal(
      backoffDelay(10, { ...DEFAULT_BACKOFF, jitter: 0 }, () => 0.9),
      30000,
    );
  });

  it('gives up after maxRetries consecutive retries and starts over after a reset', () => {
    const b = createBackoff({ maxRetries: 2, jitter: 0 });
    assert.deepEqual([b.next(), b.next(), b.next()], [1000, 2000, null]);
    assert.equal(b.retries, 2);
    b.reset();
    assert.equal(b.next(), 1000);
    assert.equal(createBackoff({ maxRetries: 0 }).next(), null);
    const forever = createBackoff({ jitter: 0 });
    for (let i = 0; i < 100; i++) forever.next();
    assert.equal(forever.next(), 30000);
  });

  it('rejects nonsense policies with the value', () => {
    assert.throws(() => backoffPolicy({ initialMs: -1 }), /initialMs must be a finite number >= 0, got -1/);
    assert.throws(() => backoffPolicy({ maxMs: 10 }), /maxMs must be finite and >= initialMs \(1000\), got 10/);
    assert.throws(() => backoffPolicy({ jitter: 2 }), /jitter must be in \[0, 1\], got 2/);
    assert.throws(() => backoffPolicy({ maxRetries: 1.5 }), /maxRetries must be a whole number >= 0 or Infinity, got 1.5/);
  });
});

/** A fake live source: attempt i plays `chunks` chunks of 100 ms, then fails with `fail` if given. */
function fakeSource(script: { chunks: number; fail?: 'network' | 'corrupt' | 'unsupported-codec'; clock?: number }[], clock: { t: number }) {
  let calls = 0;
  const media: MediaPort = {
    async *audio(input) {
      const step = script[Math.min(calls++, script.length - 1)]!;
      if (step.clock !== undefined) clock.t = step.clock;
      for (let i = 0; i < step.chunks; i++) yield { startS: i * 0.1, sampleRate: 16000, samples: new Int16Array(1600) };
      if (step.fail) throw new MediaError(`cannot decode audio of ${input}: test ${step.fail}`, step.fail, input);
    },
    // eslint-disable-next-line require-yield
    async *video(input) {
      throw new MediaError(`cannot decode video of ${input}: no such stream in the input`, 'no-stream', input);
    },
  };
  return { media, calls: () => calls };
}

const URL = 'http://127.0.0.1:8080/live.ts';
const RTMP = 'rtmp://127.0.0.1/live/test';
const fast = { realtime: false, reconnect: { initialMs: 1, maxMs: 4 }, random: () => 0 };

describe('ingest reconnect', () => {
  it('reconnects a dropped live source; seq continues and event time continues from the wall clock', async () => {
    const clock = { t: 1_000_000 };
    const src = fakeSource(
      [
        { chunks: 3, fail: 'network' },
        { chunks: 0, fail: 'network', clock: 1_004_000 },
        { chunks: 2, clock: 1_010_000 },
      ],
      clock,
    );
    const sender = memorySender();
    const { logger, lines } = memoryLogger();
    // The clock moves when an attempt starts; the offset is taken after the backoff wait.
    const summary = await ingest(URL, { sessionId: 's', sender, media: src.media, now: () => clock.t, logger, ...fast });
    assert.equal(src.calls(), 3);
    assert.equal(summary.reconnects, 2);
    assert.equal(summary.live, true);
    const audio = sender.of<AudioChunk>('audio');
    assert.deepEqual(
      audio.map((a) => a.seq),
      [0, 1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      audio.map((a) => a.eventTime - 1_000_000),
      [0, 100, 200, 4_000, 4_100, 4_200],
    );
    assert.deepEqual(
      audio.map((a) => a.endOfStream),
      [false, false, false, false, false, true],
    );
    const reconnects = lines.filter((l) => /reconnecting/.test(String(l.msg)));
    assert.equal(reconnects.length, 2, 'each reconnect is logged');
    assert.equal(reconnects[0]!.level, 40);
    assert.equal(reconnects[0]!.retry, 1);
  });

  it('event time never goes back when the source reconnects quickly', async () => {
    const clock = { t: 1_000_000 };
    const src = fakeSource([{ chunks: 5, fail: 'corrupt' }, { chunks: 2 }], clock);
    const sender = memorySender();
    await ingest(URL, { sessionId: 's', sender, media: src.media, now: () => clock.t, ...fast });
    assert.deepEqual(
      sender.of<AudioChunk>('audio').map((a) => a.eventTime - 1_000_000),
      [0, 100, 200, 300, 400, 500, 600, 700],
    );
  });

  it('gives up on a refusing source after the retries, with a clear error and nothing sent', async () => {
    const src = fakeSource([{ chunks: 0, fail: 'network' }], { t: 0 });
    const sender = memorySender();
    await assert.rejects(
      ingest(URL, { sessionId: 's', sender, media: src.media, ...fast, reconnect: { ...fast.reconnect, maxRetries: 2 } }),
      (e: unknown) =>
        e instanceof MediaError &&
        e.kind === 'network' &&
        /^http:\/\/127\.0\.0\.1:8080\/live\.ts: gave up after 3 failed attempts in a row; last error: cannot decode audio/.test(e.message),
    );
    assert.equal(src.calls(), 3);
    assert.equal(sender.sent.length, 0);
  });

  it('counts retries in a row: a source that delivered starts the count over', async () => {
    const src = fakeSource([{ chunks: 0, fail: 'network' }, { chunks: 1, fail: 'network' }, { chunks: 1, fail: 'network' }, { chunks: 1 }], { t: 0 });
    const summary = await ingest(URL, { sessionId: 's', sender: memorySender(), media: src.media, ...fast, reconnect: { ...fast.reconnect, maxRetries: 1 } });
    assert.equal(summary.reconnects, 3);
    const again = fakeSource(
      [
        { chunks: 1, fail: 'network' },
        { chunks: 0, fail: 'network' },
      ],
      { t: 0 },
    );
    await assert.rejects(
      ingest(URL, { sessionId: 's', sender: memorySender(), media: again.media, ...fast, reconnect: { ...fast.reconnect, maxRetries: 1 } }),
      /gave up after 2 failed attempts in a row/,
    );
    assert.equal(again.calls(), 2);
  });

  it('does not retry files, or errors no reconnect can fix', async () => {
    for (const [source, fail] of [
      ['talk.mp4', 'network'],
      [URL, 'unsupported-codec'],
    ] as const) {
      const src = fakeSource([{ chunks: 2, fail }], { t: 0 });
      const sender = memorySender();
      await assert.rejects(ingest(source, { sessionId: 's', sender, media: src.media, ...fast }), (e: unknown) => e instanceof MediaError && e.kind === fail);
      assert.equal(src.calls(), 1);
      // What was sent is closed, so the session's windows close.
      assert.deepEqual(
        sender.of<AudioChunk>('audio').map((a) => a.endOfStream),
        [false, false, true],
      );
    }
  });

  it('waits for an RTMP stream that ended to come back, and ends normally when it does not', async () => {
    const src = fakeSource([{ chunks: 2 }, { chunks: 1 }, { chunks: 0 }], { t: 0 });
    const sender = memorySender();
    const summary = await ingest(RTMP, { sessionId: 's', sender, media: src.media, ...fast, reconnect: { ...fast.reconnect, maxRetries: 1 } });
    assert.deepEqual([src.calls(), summary.reconnects, summary.ended], [3, 2, 'end']);
    assert.deepEqual(
      sender.of<AudioChunk>('audio').map((a) => a.seq),
      [0, 1, 2, 3],
    );
    // The end of an HTTP source is its end.
    const http = fakeSource([{ chunks: 2 }], { t: 0 });
    await ingest(URL, { sessionId: 's', sender: memorySender(), media: http.media, ...fast });
    assert.equal(http.calls(), 1);
  });

  it('stops waiting to reconnect when aborted, and ends the stream', async () => {
    const src = fakeSource([{ chunks: 2, fail: 'network' }], { t: 0 });
    const sender = memorySender();
    const stop = new AbortController();
    const done = ingest(URL, {
      sessionId: 's',
      sender,
      media: src.media,
      realtime: false,
      reconnect: { initialMs: 60_000, maxMs: 60_000 },
      signal: stop.signal,
    });
    setTimeout(() => stop.abort(), 50);
    const summary = await done;
    assert.equal(summary.ended, 'aborted');
    assert.deepEqual(
      sender.of<AudioChunk>('audio').map((a) => a.endOfStream),
      [false, false, true],
    );
  });
});
