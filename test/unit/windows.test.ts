import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { from, lastValueFrom, map, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { InputRecord, TranscriptSegment } from '../../src/schemas/records.js';
import {
  createSessionWindowing,
  createWindowStats,
  DEFAULT_WINDOW_OPTIONS,
  eventTimeReached,
  resolveWindowOptions,
  sessionWindows,
  windowsContaining,
  windowsOverlapping,
  WindowOptionsError,
  type Positioned,
  type SessionWindowOptions,
  type WindowEvent,
  type WindowStats,
} from '../../src/windows/index.js';

// ---- records -------------------------------------------------------------------------------

type Rec = Positioned<InputRecord>;

const position = (topic: string, offset: number) => ({ topic, partition: 0, offset: String(offset) });

/** An audio chunk of `sessionId` at `eventTime`, at Kafka offset `offset` of topic audio. */
function audio(offset: number, sessionId: string, eventTime: number, endOfStream = false): Rec {
  return {
    value: {
      kind: 'audio',
      value: { sessionId, seq: offset, eventTime, sampleRate: 16000, encoding: 'S16LE', samples: Buffer.alloc(4), endOfStream },
    },
    position: position('audio', offset),
  };
}

function video(offset: number, sessionId: string, eventTime: number, endOfStream = false): Rec {
  return {
    value: {
      kind: 'video',
      value: {
        sessionId,
        seq: offset,
        eventTime,
        format: 'FEATURES',
        width: 0,
        height: 0,
        data: Buffer.alloc(0),
        features: [0.5],
        featureSet: 'test',
        facePresent: true,
        endOfStream,
      },
    },
    position: position('video', offset),
  };
}

function segment(offset: number, sessionId: string, segmentId: string, eventTime: number, endTime: number, text: string, isFinal = true): Rec {
  const value: TranscriptSegment = {
    sessionId,
    segmentId,
    eventTime,
    endTime,
    text,
    words: text.split(' ').map((word, i) => ({ word, start: eventTime + i * 100, end: eventTime + i * 100 + 90, confidence: 0.9 })),
    isFinal,
    speaker: 'spk0',
    channel: 0,
    language: 'en',
    endOfStream: false,
    origin: null,
  };
  return { value: { kind: 'transcript', value }, position: position('transcript', offset) };
}

// ---- brief event form for marbles ----------------------------------------------------------

/**
 * One line per event: `s1 [0,3000) a@0 v@0 t:seg=text | 1,2` for a window (content by modality in
 * window order, then the offsets in `positions`), `assigned 1 x3` (+ ` missed 2`), `late 1`,
 * `rejected 1 CODE`, `expired s1 @3000`.
 */
function brief(event: WindowEvent): string {
  switch (event.type) {
    case 'window': {
      const w = event.window;
      const content = [
        ...w.audio.map((a) => `a@${a.eventTime}`),
        ...w.video.map((v) => `v@${v.eventTime}`),
        ...w.transcript.map((t) => `t:${t.segmentId}=${t.text}`),
      ];
      return `${w.sessionId} [${w.start},${w.end}) ${content.join(' ')} | ${w.positions.map((p) => p.offset).join(',')}`;
    }
    case 'assigned':
      return `assigned ${event.position?.offset} x${event.windows}${event.missedWindows > 0 ? ` missed ${event.missedWindows}` : ''}`;
    case 'late':
      return `late ${event.record.position?.offset}`;
    case 'rejected':
      return `rejected ${event.record.position?.offset} ${event.code}`;
    case 'expired':
      return `expired ${event.sessionId} @${event.lastEventTime}`;
    case 'revoked':
      return `revoked ${event.partitions.join(',')}: ${event.sessionIds.join(',')}`;
  }
}

/** Small windows for readable tests: W = 3 s, H = 1 s, no lateness, no modality alignment and no outlier guard (each tested on its own). */
const SMALL: SessionWindowOptions = { sizeMs: 3000, hopMs: 1000, allowedLatenessMs: 0, idleTimeoutMs: 1000, modalityIdleMs: 0, maxWatermarkJumpMs: null };

/**
 * Runs `input` (values from `records`) through sessionWindows(options) on virtual time and
 * expects `expected` in brief form; returns the stats the run filled in.
 */
function expectWindows(
  input: string,
  records: Record<string, Rec>,
  options: SessionWindowOptions,
  expected: string,
  values: Record<string, string>,
  error?: unknown,
): WindowStats {
  const stats = createWindowStats();
  const scheduler = new TestScheduler((actual, wanted) => assert.deepEqual(actual, wanted));
  scheduler.run(({ cold, expectObservable }) => {
    const output = cold(input, records, error).pipe(sessionWindows({ ...options, stats, now: () => scheduler.now() }, scheduler), map(brief));
    expectObservable(output).toBe(expected, values, error);
  });
  return stats;
}

// ---- tests ---------------------------------------------------------------------------------

describe('eventTimeReached', () => {
  const window = (records: Rec[]) => ({
    sessionId: 's',
    start: 2000,
    end: 8000,
    positions: [],
    closedAt: 0,
    audio: records.flatMap((r) => (r.value.kind === 'audio' ? [r.value.value] : [])),
    video: records.flatMap((r) => (r.value.kind === 'video' ? [r.value.value] : [])),
    transcript: records.flatMap((r) => (r.value.kind === 'transcript' ? [r.value.value] : [])),
  });
  it('is the latest event time of the records, a transcript segment counting to its endTime', () => {
    assert.equal(eventTimeReached(window([audio(0, 's', 3000), video(1, 's', 4500), audio(2, 's', 4000)])), 4500);
    assert.equal(eventTimeReached(window([audio(0, 's', 3000), segment(1, 's', 'a', 2500, 5200, 'so bad')])), 5200);
  });
  it('is clamped to the window end (a segment running past it), and the start for no records', () => {
    assert.equal(eventTimeReached(window([segment(0, 's', 'a', 7000, 9500, 'so bad')])), 8000);
    assert.equal(eventTimeReached(window([])), 2000);
  });
});

describe('windowsContaining / windowsOverlapping', () => {
  it('gives the W/H windows [kH, kH+W) with start <= t < end, earliest first', () => {
    assert.deepEqual(windowsContaining(2500, 3000, 1000), [
      { start: 0, end: 3000 },
      { start: 1000, end: 4000 },
      { start: 2000, end: 5000 },
    ]);
    // A boundary instant opens a window and is outside the one ending there.
    assert.deepEqual(
      windowsContaining(3000, 3000, 1000).map((w) => w.start),
      [1000, 2000, 3000],
    );
    assert.deepEqual(
      windowsContaining(-1, 3000, 1000).map((w) => w.start),
      [-3000, -2000, -1000],
    );
    assert.equal(windowsContaining(1_700_000_000_123, 6000, 1000).length, 6);
  });

  it('gives every window a span [from, to) overlaps; an empty span is an instant', () => {
    assert.deepEqual(
      windowsOverlapping(1000, 2000, 3000, 1000).map((w) => w.start),
      [-1000, 0, 1000],
    );
    assert.deepEqual(
      windowsOverlapping(500, 2500, 3000, 1000).map((w) => w.start),
      [-2000, -1000, 0, 1000, 2000],
    );
    assert.deepEqual(windowsOverlapping(700, 700, 3000, 1000), windowsContaining(700, 3000, 1000));
  });
});

describe('sessionWindows', () => {
  it('window boundaries and membership: a record joins every window with start <= t < end', () => {
    const records = { a: audio(1, 's1', 0), b: audio(2, 's1', 1000), c: audio(3, 's1', 2500), d: audio(4, 's1', 3000) };
    expectWindows('a 9ms b 9ms c 9ms d 9ms |', records, { ...SMALL, allowedLatenessMs: 10_000 }, 'a 9ms b 9ms c 9ms d 9ms (uvwxyzE|)', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      c: 'assigned 3 x3',
      d: 'assigned 4 x3',
      u: 's1 [-2000,1000) a@0 | 1',
      v: 's1 [-1000,2000) a@0 a@1000 | 1,2',
      w: 's1 [0,3000) a@0 a@1000 a@2500 | 1,2,3',
      x: 's1 [1000,4000) a@1000 a@2500 a@3000 | 2,3,4',
      y: 's1 [2000,5000) a@2500 a@3000 | 3,4',
      z: 's1 [3000,6000) a@3000 | 4',
      E: 'expired s1 @3000',
    });
  });

  it('modality alignment: a modality behind holds the watermark until it has been silent for modalityIdleMs', () => {
    // Audio jumps to 5000 while video is still at 0 (a backlog read topic by topic): nothing
    // closes, so video@0 is not late. Video then falls silent while audio goes on; after
    // modalityIdleMs (500 ms of scheduler time) it no longer holds the session back and audio@6000
    // closes the windows.
    const records = { a: audio(1, 's1', 0), b: video(2, 's1', 0), c: audio(3, 's1', 5000), e: audio(5, 's1', 5200), d: audio(4, 's1', 6000) };
    expectWindows('a b c 300ms e 299ms d 9ms |', records, { ...SMALL, modalityIdleMs: 500, idleTimeoutMs: 10_000 }, 'a b c 300ms e 299ms (duvwx) 3ms (yzGE|)', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      c: 'assigned 3 x3',
      e: 'assigned 5 x3',
      d: 'assigned 4 x3',
      u: 's1 [-2000,1000) a@0 v@0 | 1,2',
      v: 's1 [-1000,2000) a@0 v@0 | 1,2',
      w: 's1 [0,3000) a@0 v@0 | 1,2',
      x: 's1 [3000,6000) a@5000 a@5200 | 3,5',
      y: 's1 [4000,7000) a@5000 a@5200 a@6000 | 3,5,4',
      z: 's1 [5000,8000) a@5000 a@5200 a@6000 | 3,5,4',
      G: 's1 [6000,9000) a@6000 | 4',
      E: 'expired s1 @6000',
    });
  });

  it('modality alignment: after a pause of the whole session, the first modality back does not close windows before the others had modalityIdleMs to follow', () => {
    // Audio and video both live, then the session goes quiet for 3 s (a stall, a rebalance). Audio
    // comes back first, far ahead (its backlog); video was live when the session went quiet, so it
    // is not idle: its backlog, read 300 ms later, is not late. Once video is silent for
    // modalityIdleMs while audio goes on, it no longer holds the session.
    const w = createSessionWindowing(resolveWindowOptions({ ...SMALL, modalityIdleMs: 500, idleTimeoutMs: 60_000 }));
    const briefs = (events: WindowEvent[]) => events.map(brief);
    w.accept(audio(1, 's1', 0), 0);
    w.accept(video(2, 's1', 0), 0);
    assert.deepEqual(briefs(w.accept(audio(3, 's1', 5000), 3000)), ['assigned 3 x3'], 'video paused with the session: not idle');
    assert.deepEqual(briefs(w.accept(video(4, 's1', 1500), 3300)), ['assigned 4 x3', 's1 [-2000,1000) a@0 v@0 | 1,2'], 'its backlog is not late');
    assert.deepEqual(
      briefs([...w.accept(audio(5, 's1', 5400), 3600), ...w.accept(audio(6, 's1', 5800), 3900)]),
      ['assigned 5 x3', 'assigned 6 x3', 's1 [-1000,2000) a@0 v@0 v@1500 | 1,2,4', 's1 [0,3000) a@0 v@0 v@1500 | 1,2,4', 's1 [1000,4000) v@1500 | 4'],
      'silent 600 ms while audio went on: video is idle',
    );
  });

  it('modality alignment: a silent modality whose input partition is behind is not idle; once caught up it is', () => {
    // After a broker outage the consumer hands the partitions over one by one: audio's backlog
    // first, video's seconds later. Video's partition is behind (inputBehind), so however long
    // video has been silent it holds the session, and its backlog is not late.
    const behind = { video: true };
    const seenWith: Array<[string, number]> = [];
    const w = createSessionWindowing(
      resolveWindowOptions({
        ...SMALL,
        modalityIdleMs: 500,
        idleTimeoutMs: 60_000,
        inputBehind: (kind, partition) => {
          seenWith.push([kind, partition]);
          return kind === 'video' && behind.video;
        },
      }),
    );
    const briefs = (events: WindowEvent[]) => events.map(brief);
    w.accept(audio(1, 's1', 0), 0);
    w.accept(video(2, 's1', 0), 0);
    // Video falls silent while audio goes on (so it was idle before the session's pause below).
    w.accept(audio(8, 's1', 100), 400);
    w.accept(audio(9, 's1', 200), 800);
    assert.deepEqual(briefs(w.accept(audio(3, 's1', 5000), 3000)), ['assigned 3 x3'], 'video silent 3 s, but its partition is behind');
    assert.deepEqual(
      briefs(w.accept(video(4, 's1', 1000), 3100)),
      ['assigned 4 x3', 's1 [-2000,1000) a@0 a@100 a@200 v@0 | 1,2,8,9'],
      'the backlog arrives: not late, and moves the watermark',
    );
    assert.ok(
      seenWith.some(([kind, p]) => kind === 'video' && p === 0),
      'asked about video on the session partition',
    );
    behind.video = false;
    assert.deepEqual(
      briefs([...w.accept(audio(6, 's1', 5300), 3400), ...w.accept(audio(7, 's1', 5600), 3700), ...w.accept(audio(5, 's1', 6000), 4000)]),
      [
        'assigned 6 x3',
        'assigned 7 x3',
        's1 [-1000,2000) a@0 a@100 a@200 v@0 v@1000 | 1,2,8,9,4',
        's1 [0,3000) a@0 a@100 a@200 v@0 v@1000 | 1,2,8,9,4',
        's1 [1000,4000) v@1000 | 4',
        'assigned 5 x3',
        's1 [3000,6000) a@5000 a@5300 a@5600 | 3,6,7',
      ],
      'caught up and silent for modalityIdleMs while audio went on: video no longer holds the session',
    );
  });

  it('modality alignment: a modality not seen yet holds the session while its partition is behind (a new owner reading its backlog)', () => {
    // After a rebalance the new owner of a partition reads the backlog topic by topic: the
    // session's audio arrives first, its video (same partition number, other topic) seconds later.
    // The session is older than modalityIdleMs before video comes, but video's partition is behind,
    // so audio alone does not close windows that video's records belong to.
    const behind = { video: true };
    const w = createSessionWindowing(
      resolveWindowOptions({ ...SMALL, modalityIdleMs: 500, idleTimeoutMs: 60_000, inputBehind: (kind) => kind === 'video' && behind.video }),
    );
    const briefs = (events: WindowEvent[]) => events.map(brief);
    w.accept(audio(1, 's1', 0), 0);
    assert.deepEqual(briefs(w.accept(audio(2, 's1', 5000), 3000)), ['assigned 2 x3'], 'video never seen, session 3 s old, partition behind');
    assert.deepEqual(briefs(w.accept(video(3, 's1', 500), 3100)), ['assigned 3 x3'], 'the video backlog arrives: not late, in its windows');
    behind.video = false;
    assert.deepEqual(
      briefs([...w.accept(audio(4, 's1', 5300), 3400), ...w.accept(audio(5, 's1', 5600), 3700), ...w.accept(audio(6, 's1', 6000), 4000)]),
      [
        'assigned 4 x3',
        'assigned 5 x3',
        's1 [-2000,1000) a@0 v@500 | 1,3',
        's1 [-1000,2000) a@0 v@500 | 1,3',
        's1 [0,3000) a@0 v@500 | 1,3',
        'assigned 6 x3',
        's1 [3000,6000) a@5000 a@5300 a@5600 | 2,4,5',
      ],
      'caught up: video, silent for modalityIdleMs while audio went on, no longer holds the session',
    );
  });

  it('modality alignment: a modality not seen yet holds a young session; without alignment it arrives late', () => {
    const records = { a: audio(1, 's1', 0), c: audio(3, 's1', 5000), b: video(2, 's1', 0) };
    const aligned = expectWindows('a 9ms c 9ms b 9ms |', records, { ...SMALL, modalityIdleMs: 500 }, 'a 9ms c 9ms b 9ms (uvwxyzE|)', {
      a: 'assigned 1 x3',
      c: 'assigned 3 x3',
      b: 'assigned 2 x3',
      u: 's1 [-2000,1000) a@0 v@0 | 1,2',
      v: 's1 [-1000,2000) a@0 v@0 | 1,2',
      w: 's1 [0,3000) a@0 v@0 | 1,2',
      x: 's1 [3000,6000) a@5000 | 3',
      y: 's1 [4000,7000) a@5000 | 3',
      z: 's1 [5000,8000) a@5000 | 3',
      E: 'expired s1 @5000',
    });
    assert.equal(aligned.late, 0);
    const unaligned = expectWindows('a 9ms c 9ms b 9ms |', records, { ...SMALL, modalityIdleMs: 0 }, 'a 9ms (cuvw) 4ms b 9ms (xyzE|)', {
      a: 'assigned 1 x3',
      c: 'assigned 3 x3',
      u: 's1 [-2000,1000) a@0 | 1',
      v: 's1 [-1000,2000) a@0 | 1',
      w: 's1 [0,3000) a@0 | 1',
      b: 'late 2',
      x: 's1 [3000,6000) a@5000 | 3',
      y: 's1 [4000,7000) a@5000 | 3',
      z: 's1 [5000,8000) a@5000 | 3',
      E: 'expired s1 @5000',
    });
    assert.equal(unaligned.late, 1);
  });

  it('watermark closing: a window is emitted once max event time - lateness reaches its end; empty windows never', () => {
    const records = { a: audio(1, 's1', 0), b: audio(2, 's1', 1000), c: audio(3, 's1', 10_000) };
    const stats = expectWindows('a 9ms b 9ms c 9ms |', records, SMALL, 'a 9ms (bu) 6ms (cvwx) 4ms (pqrE|)', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      c: 'assigned 3 x3',
      u: 's1 [-2000,1000) a@0 | 1',
      v: 's1 [-1000,2000) a@0 a@1000 | 1,2',
      w: 's1 [0,3000) a@0 a@1000 | 1,2',
      x: 's1 [1000,4000) a@1000 | 2',
      p: 's1 [8000,11000) a@10000 | 3',
      q: 's1 [9000,12000) a@10000 | 3',
      r: 's1 [10000,13000) a@10000 | 3',
      E: 'expired s1 @10000',
    });
    assert.equal(stats.windowsEmitted, 7);
  });

  it('allowed lateness: a record older than the max event time by less than the lateness still joins all its windows', () => {
    const records = { a: audio(1, 's1', 0), b: audio(2, 's1', 3000), c: audio(3, 's1', 2500) };
    const stats = expectWindows('a 9ms b 9ms c 9ms |', records, { ...SMALL, allowedLatenessMs: 1000 }, 'a 9ms (buv) 5ms c 9ms (wxyzE|)', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      c: 'assigned 3 x3',
      u: 's1 [-2000,1000) a@0 | 1',
      v: 's1 [-1000,2000) a@0 | 1',
      w: 's1 [0,3000) a@0 a@2500 | 1,3',
      x: 's1 [1000,4000) a@2500 a@3000 | 2,3',
      y: 's1 [2000,5000) a@2500 a@3000 | 2,3',
      z: 's1 [3000,6000) a@3000 | 2',
      E: 'expired s1 @3000',
    });
    assert.equal(stats.late, 0);
    assert.equal(stats.partiallyLate, 0);
  });

  it('late side output: a record whose windows have all closed is emitted as late, never dropped', () => {
    const records = { a: audio(1, 's1', 0), b: audio(2, 's1', 5000), c: audio(3, 's1', 1000) };
    const stats = expectWindows('a 9ms b 9ms c 9ms |', records, SMALL, 'a 9ms (buvw) 4ms c 9ms (xyzE|)', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      c: 'late 3',
      u: 's1 [-2000,1000) a@0 | 1',
      v: 's1 [-1000,2000) a@0 | 1',
      w: 's1 [0,3000) a@0 | 1',
      x: 's1 [3000,6000) a@5000 | 2',
      y: 's1 [4000,7000) a@5000 | 2',
      z: 's1 [5000,8000) a@5000 | 2',
      E: 'expired s1 @5000',
    });
    assert.equal(stats.late, 1);
    assert.equal(stats.records, 3);
  });

  it('late events say which windows had closed', async () => {
    const events = await run([audio(1, 's1', 0), audio(2, 's1', 5000), audio(3, 's1', 1000)], SMALL);
    const late = events.find((e) => e.type === 'late');
    assert.ok(late?.type === 'late');
    assert.match(late.reason, /all 3 windows of session s1 containing event time 1000 have closed/);
    assert.deepEqual(late.record, audio(3, 's1', 1000));
  });

  it('partially late: a record that missed some closed windows joins the open ones and is counted', () => {
    const records = { a: audio(1, 's1', 0), b: audio(2, 's1', 3000), c: audio(3, 's1', 1500) };
    const stats = expectWindows('a 9ms b 9ms c 9ms |', records, SMALL, 'a 9ms (buvw) 4ms c 9ms (xyzE|)', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      c: 'assigned 3 x1 missed 2',
      u: 's1 [-2000,1000) a@0 | 1',
      v: 's1 [-1000,2000) a@0 | 1',
      w: 's1 [0,3000) a@0 | 1',
      x: 's1 [1000,4000) a@1500 a@3000 | 2,3',
      y: 's1 [2000,5000) a@3000 | 2',
      z: 's1 [3000,6000) a@3000 | 2',
      E: 'expired s1 @3000',
    });
    assert.equal(stats.partiallyLate, 1);
    assert.equal(stats.late, 0);
  });

  it('out-of-range rejection: bad or far-off event times and missing session ids are rejected, the watermark stays', () => {
    const missing = audio(6, '', 0);
    const records = {
      a: audio(1, 's1', 0),
      b: audio(2, 's1', 20_000),
      c: audio(3, 's1', -20_000),
      t: segment(4, 's1', 'seg', 2000, 1000, 'backwards'),
      n: audio(5, 's1', Number.NaN),
      m: missing,
    };
    const stats = expectWindows(
      'a 9ms b 9ms c 9ms t 9ms n 9ms m 9ms |',
      records,
      { ...SMALL, maxEventTimeSkewMs: 10_000 },
      'a 9ms b 9ms c 9ms t 9ms n 9ms m 9ms (uvwE|)',
      {
        a: 'assigned 1 x3',
        b: 'rejected 2 TIME_OUT_OF_RANGE',
        c: 'rejected 3 TIME_OUT_OF_RANGE',
        t: 'rejected 4 TIME_OUT_OF_RANGE',
        n: 'rejected 5 TIME_OUT_OF_RANGE',
        m: 'rejected 6 MISSING_SESSION_ID',
        u: 's1 [-2000,1000) a@0 | 1',
        v: 's1 [-1000,2000) a@0 | 1',
        w: 's1 [0,3000) a@0 | 1',
        E: 'expired s1 @0',
      },
    );
    assert.deepEqual(stats.rejectedByCode, { TIME_OUT_OF_RANGE: 4, SESSION_FULL: 0, MISSING_SESSION_ID: 1, PROCESSING_FAILED: 0 });
  });

  it('rejection reasons name the offending value and the limit', async () => {
    const events = await run([audio(1, 's1', 0), audio(2, 's1', 20_000), segment(3, 's1', 'seg-9', 2000, 1000, 'x'), audio(4, '', 0)], {
      ...SMALL,
      maxEventTimeSkewMs: 10_000,
    });
    const reasons = events.flatMap((e) => (e.type === 'rejected' ? [e.reason] : []));
    assert.match(reasons[0] ?? '', /eventTime 20000 is 20000 ms from session s1's max event time 0, over maxEventTimeSkewMs=10000/);
    assert.match(reasons[1] ?? '', /segment seg-9 ends \(endTime 1000\) before it starts \(eventTime 2000\)/);
    assert.match(reasons[2] ?? '', /audio record has no session id \(got ""\)/);
  });

  it('session cap: records beyond maxRecordsPerSession are rejected SESSION_FULL, and the session still drains', () => {
    const records = {
      a: audio(1, 's1', 0),
      b: audio(2, 's1', 100),
      c: audio(3, 's1', 200),
      d: audio(4, 's1', 5000),
      e: audio(5, 's1', 5100),
    };
    const stats = expectWindows(
      'a 9ms b 9ms c 9ms d 9ms e 9ms |',
      records,
      { ...SMALL, maxRecordsPerSession: 2 },
      'a 9ms b 9ms c 9ms (duvw) 4ms e 9ms (xyzE|)',
      {
        a: 'assigned 1 x3',
        b: 'assigned 2 x3',
        c: 'rejected 3 SESSION_FULL',
        d: 'rejected 4 SESSION_FULL',
        e: 'assigned 5 x3',
        u: 's1 [-2000,1000) a@0 a@100 | 1,2',
        v: 's1 [-1000,2000) a@0 a@100 | 1,2',
        w: 's1 [0,3000) a@0 a@100 | 1,2',
        x: 's1 [3000,6000) a@5100 | 5',
        y: 's1 [4000,7000) a@5100 | 5',
        z: 's1 [5000,8000) a@5100 | 5',
        E: 'expired s1 @5100',
      },
    );
    assert.equal(stats.rejectedByCode.SESSION_FULL, 2);
    assert.equal(stats.bufferedRecords, 0);
  });

  it('idle expiry: a session without records for idleTimeoutMs of scheduler time is flushed and freed', () => {
    const records = { a: audio(1, 's1', 0), b: audio(2, 's1', 1000) };
    const stats = expectWindows('a 9ms b 39ms |', records, { ...SMALL, idleTimeoutMs: 25 }, 'a 9ms (bu) 21ms (vwxE) 9ms |', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      u: 's1 [-2000,1000) a@0 | 1',
      v: 's1 [-1000,2000) a@0 a@1000 | 1,2',
      w: 's1 [0,3000) a@0 a@1000 | 1,2',
      x: 's1 [1000,4000) a@1000 | 2',
      E: 'expired s1 @1000',
    });
    assert.equal(stats.expiredSessions, 1);
    assert.equal(stats.openSessions, 0);
  });

  it('after expiry, stragglers for emitted windows are late and newer records re-open the session', () => {
    const records = { a: audio(1, 's1', 0), b: audio(2, 's1', 1000), c: audio(3, 's1', 500), d: audio(4, 's1', 3500) };
    expectWindows('a 9ms b 39ms c 9ms d 9ms |', records, { ...SMALL, idleTimeoutMs: 25 }, 'a 9ms (bu) 21ms (vwxE) 9ms c 9ms d 9ms (yzF|)', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      c: 'late 3',
      d: 'assigned 4 x2 missed 1',
      u: 's1 [-2000,1000) a@0 | 1',
      v: 's1 [-1000,2000) a@0 a@1000 | 1,2',
      w: 's1 [0,3000) a@0 a@1000 | 1,2',
      x: 's1 [1000,4000) a@1000 | 2',
      E: 'expired s1 @1000',
      y: 's1 [2000,5000) a@3500 | 4',
      z: 's1 [3000,6000) a@3500 | 4',
      F: 'expired s1 @3500',
    });
  });

  it('endOfStream flush: once every modality of the session has ended, all its windows are emitted and it expires', () => {
    const records = { a: audio(1, 's1', 0), v: video(2, 's1', 0), A: audio(3, 's1', 500, true), V: video(4, 's1', 600, true) };
    const all = 'a@0 a@500 v@0 v@600 | 1,2,3,4';
    const stats = expectWindows('a 9ms v 9ms A 9ms V 9ms |', records, SMALL, 'a 9ms v 9ms A 9ms (VxyzE) 3ms |', {
      a: 'assigned 1 x3',
      v: 'assigned 2 x3',
      A: 'assigned 3 x3',
      V: 'assigned 4 x3',
      x: `s1 [-2000,1000) ${all}`,
      y: `s1 [-1000,2000) ${all}`,
      z: `s1 [0,3000) ${all}`,
      E: 'expired s1 @600',
    });
    assert.equal(stats.expiredSessions, 1);
    assert.equal(stats.openSessions, 0);
  });

  it('endOfStream with modality alignment: a session whose sent modalities all ended is flushed once the grace for unseen ones passes, not at the idle timeout', () => {
    // Audio only (an ingest without video or transcript); it ends at once, while the session is
    // younger than modalityIdleMs (500 ms), so video or a transcript may still be on the way. At
    // 500 ms of scheduler time that grace is over: the session is flushed then, long before the
    // 10 s idle timeout.
    const records = { a: audio(1, 's1', 0), A: audio(2, 's1', 400, true) };
    const all = 'a@0 a@400 | 1,2';
    expectWindows('a 9ms A 1999ms |', records, { ...SMALL, modalityIdleMs: 500, idleTimeoutMs: 10_000 }, 'a 9ms A 489ms (xyzE) 1504ms |', {
      a: 'assigned 1 x3',
      A: 'assigned 2 x3',
      x: `s1 [-2000,1000) ${all}`,
      y: `s1 [-1000,2000) ${all}`,
      z: `s1 [0,3000) ${all}`,
      E: 'expired s1 @400',
    });
  });

  it("endOfStream policy 'any' flushes on the first modality's end; the other's tail is then late", () => {
    const records = { a: audio(1, 's1', 0), v: video(2, 's1', 0), A: audio(3, 's1', 500, true), V: video(4, 's1', 600, true) };
    const some = 'a@0 a@500 v@0 | 1,2,3';
    expectWindows('a 9ms v 9ms A 9ms V 9ms |', records, { ...SMALL, endOfStream: 'any' }, 'a 9ms v 9ms (AxyzE) 3ms V 9ms |', {
      a: 'assigned 1 x3',
      v: 'assigned 2 x3',
      A: 'assigned 3 x3',
      V: 'late 4',
      x: `s1 [-2000,1000) ${some}`,
      y: `s1 [-1000,2000) ${some}`,
      z: `s1 [0,3000) ${some}`,
      E: 'expired s1 @500',
    });
  });

  it('completion flush: when the source completes every session is flushed in turn, then the output completes', () => {
    const records = { a: audio(1, 's1', 0), b: audio(2, 's2', 7000) };
    expectWindows('a 9ms b 9ms |', records, SMALL, 'a 9ms b 9ms (uvwExyzF|)', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      u: 's1 [-2000,1000) a@0 | 1',
      v: 's1 [-1000,2000) a@0 | 1',
      w: 's1 [0,3000) a@0 | 1',
      E: 'expired s1 @0',
      x: 's2 [5000,8000) a@7000 | 2',
      y: 's2 [6000,9000) a@7000 | 2',
      z: 's2 [7000,10000) a@7000 | 2',
      F: 'expired s2 @7000',
    });
  });

  it('multiple sessions are independent and interleaved: each has its own watermark and windows', () => {
    const records = { a: audio(1, 's1', 0), b: audio(2, 's2', 50_000), c: audio(3, 's1', 1000), d: audio(4, 's2', 53_000) };
    expectWindows('a 9ms b 9ms c 9ms d 9ms |', records, SMALL, 'a 9ms b 9ms (cu) 6ms (dpqr) 4ms (vwxEstzF|)', {
      a: 'assigned 1 x3',
      b: 'assigned 2 x3',
      c: 'assigned 3 x3',
      d: 'assigned 4 x3',
      u: 's1 [-2000,1000) a@0 | 1',
      p: 's2 [48000,51000) a@50000 | 2',
      q: 's2 [49000,52000) a@50000 | 2',
      r: 's2 [50000,53000) a@50000 | 2',
      v: 's1 [-1000,2000) a@0 a@1000 | 1,3',
      w: 's1 [0,3000) a@0 a@1000 | 1,3',
      x: 's1 [1000,4000) a@1000 | 3',
      E: 'expired s1 @1000',
      s: 's2 [51000,54000) a@53000 | 4',
      t: 's2 [52000,55000) a@53000 | 4',
      z: 's2 [53000,56000) a@53000 | 4',
      F: 'expired s2 @53000',
    });
  });

  it('transcript overlap: a segment [eventTime, endTime) joins, whole, every window it overlaps', () => {
    const records = {
      t: segment(1, 's1', 'seg1', 500, 2500, 'so glad'),
      u: segment(2, 's1', 'seg2', 1000, 2000, 'really'),
      a: audio(3, 's1', 2000),
    };
    expectWindows('t 9ms u 9ms a 9ms |', records, { ...SMALL, allowedLatenessMs: 10_000 }, 't 9ms u 9ms a 9ms (pqrswE|)', {
      t: 'assigned 1 x5',
      u: 'assigned 2 x3',
      a: 'assigned 3 x3',
      p: 's1 [-2000,1000) t:seg1=so glad | 1',
      q: 's1 [-1000,2000) t:seg1=so glad t:seg2=really | 1,2',
      r: 's1 [0,3000) a@2000 t:seg1=so glad t:seg2=really | 1,2,3',
      s: 's1 [1000,4000) a@2000 t:seg1=so glad t:seg2=really | 1,2,3',
      w: 's1 [2000,5000) a@2000 t:seg1=so glad | 1,3',
      E: 'expired s1 @2000',
    });
  });

  it('interim replacement: a later segment with the same id replaces the earlier in open windows; positions stay', () => {
    const records = {
      i: segment(1, 's1', 'seg1', 0, 1000, 'helo', false),
      f: segment(2, 's1', 'seg1', 0, 1200, 'hello', true),
      j: segment(3, 's1', 'seg1', 0, 1000, 'hel', false),
    };
    const stats = expectWindows('i 9ms f 9ms j 9ms |', records, { ...SMALL, allowedLatenessMs: 10_000 }, 'i 9ms f 9ms j 9ms (pqrsE|)', {
      i: 'assigned 1 x3',
      f: 'assigned 2 x4',
      j: 'assigned 3 x3',
      p: 's1 [-2000,1000) t:seg1=hello | 1,2,3',
      q: 's1 [-1000,2000) t:seg1=hello | 1,2,3',
      r: 's1 [0,3000) t:seg1=hello | 1,2,3',
      s: 's1 [1000,4000) t:seg1=hello | 2',
      E: 'expired s1 @0',
    });
    // The interim gave way to the final; the interim arriving after the final lost to it.
    assert.equal(stats.superseded, 2);
  });

  it('a window whose every record was replaced is still emitted, empty, so its positions get settled', () => {
    const records = { i: segment(1, 's1', 'seg1', 0, 2500, 'long guess', false), f: segment(2, 's1', 'seg1', 0, 500, 'no', true) };
    expectWindows('i 9ms f 9ms |', records, { ...SMALL, allowedLatenessMs: 10_000 }, 'i 9ms f 9ms (pqrswE|)', {
      i: 'assigned 1 x5',
      f: 'assigned 2 x3',
      p: 's1 [-2000,1000) t:seg1=no | 1,2',
      q: 's1 [-1000,2000) t:seg1=no | 1,2',
      r: 's1 [0,3000) t:seg1=no | 1,2',
      s: 's1 [1000,4000)  | 1',
      w: 's1 [2000,5000)  | 1',
      E: 'expired s1 @0',
    });
  });

  it('a closed window is a full SessionWindow: records in event-time order per modality, closedAt from now()', () => {
    const records = { a: audio(1, 's1', 2000), v: video(2, 's1', 1500), b: audio(3, 's1', 1000), c: audio(4, 's1', 4000) };
    const scheduler = new TestScheduler((actual, wanted) => assert.deepEqual(actual, wanted));
    scheduler.run(({ cold, expectObservable }) => {
      const output = cold('a 9ms v 9ms b 9ms c 9ms |', records).pipe(
        sessionWindows({ ...SMALL, allowedLatenessMs: 1000, now: () => 1_000_000 + scheduler.now() }, scheduler),
      );
      const window = (start: number, closedAt: number, audio: Rec[], video: Rec[], arrived: Rec[]) => ({
        type: 'window',
        window: {
          sessionId: 's1',
          start,
          end: start + 3000,
          audio: audio.map((r) => r.value.value),
          video: video.map((r) => r.value.value),
          transcript: [],
          positions: arrived.map((r) => r.position),
          closedAt,
        },
      });
      const assigned = (r: Rec) => ({ type: 'assigned', sessionId: 's1', position: r.position, windows: 3, missedWindows: 0 });
      const { a, v, b, c } = records;
      expectObservable(output).toBe('a 9ms v 9ms b 9ms (cxy) 5ms (zpqrE|)', {
        a: assigned(a),
        v: assigned(v),
        b: assigned(b),
        c: assigned(c),
        // c moves the watermark to 3000 at frame 30; the rest close when the source completes at 40.
        x: window(-1000, 1_000_030, [b], [v], [v, b]),
        y: window(0, 1_000_030, [b, a], [v], [a, v, b]),
        z: window(1000, 1_000_040, [b, a], [v], [a, v, b]),
        p: window(2000, 1_000_040, [a, c], [], [a, c]),
        q: window(3000, 1_000_040, [c], [], [c]),
        r: window(4000, 1_000_040, [c], [], [c]),
        E: { type: 'expired', sessionId: 's1', lastEventTime: 4000 },
      });
    });
  });

  it('errors propagate and drop the open windows; unsubscribing frees every session', () => {
    const stats = expectWindows('a 9ms #', { a: audio(1, 's1', 0) }, SMALL, 'a 9ms #', { a: 'assigned 1 x3' }, new Error('broker gone'));
    assert.equal(stats.openSessions, 0);
    assert.equal(stats.bufferedRecords, 0);

    const after = createWindowStats();
    const scheduler = new TestScheduler((actual, wanted) => assert.deepEqual(actual, wanted));
    scheduler.run(({ cold, expectObservable }) => {
      const output = cold('a 9ms b 9ms |', { a: audio(1, 's1', 0), b: audio(2, 's2', 0) }).pipe(
        sessionWindows({ ...SMALL, stats: after, idleTimeoutMs: 5 }, scheduler),
        map(brief),
      );
      // Unsubscribed at 3, before s1's idle timer (5) would fire: no expiry is emitted.
      expectObservable(output, '^ 2ms !').toBe('a', { a: 'assigned 1 x3' });
    });
    assert.equal(after.openSessions, 0);
    assert.equal(after.bufferedRecords, 0);
    assert.equal(after.expiredSessions, 0);
  });

  it('commit accounting: every record gets one disposition and each position is in exactly `assigned.windows` windows', async () => {
    const random = seeded(42);
    const records: Rec[] = [];
    for (let offset = 0; offset < 3000; offset++) {
      const sessionId = `s${Math.floor(random() * 5)}`;
      const t = Math.floor(random() * 40_000) + (random() < 0.02 ? 4_000_000 : 0);
      const kind = random();
      const eos = random() < 0.01;
      const rec =
        kind < 0.4
          ? audio(offset, sessionId, t, eos)
          : kind < 0.7
            ? video(offset, sessionId, t, eos)
            : segment(offset, sessionId, `seg${Math.floor(random() * 50)}`, t, t + Math.floor(random() * 4000), 'w', random() < 0.5);
      records.push(rec);
    }
    const stats = createWindowStats();
    const events = await run(records, { sizeMs: 6000, hopMs: 1000, allowedLatenessMs: 2000, maxRecordsPerSession: 200, stats });

    const expected = new Map<string, number>();
    const seen = new Map<string, number>();
    let dispositions = 0;
    const lastEnd = new Map<string, number>();
    for (const e of events) {
      if (e.type === 'assigned') {
        dispositions++;
        assert.ok(e.windows >= 1);
        assert.ok(!expected.has(e.position!.offset), 'a position is assigned once');
        expected.set(e.position!.offset, e.windows);
      } else if (e.type === 'late' || e.type === 'rejected') {
        dispositions++;
        expected.set(e.record.position!.offset, 0);
      } else if (e.type === 'window') {
        const { sessionId, end, positions } = e.window;
        assert.ok(end > (lastEnd.get(sessionId) ?? -Infinity), `windows of ${sessionId} come in end order, once each`);
        lastEnd.set(sessionId, end);
        for (const p of positions) {
          assert.ok(expected.has(p.offset), 'a disposition comes before any window holding the record');
          seen.set(p.offset, (seen.get(p.offset) ?? 0) + 1);
        }
      }
    }
    assert.equal(dispositions, records.length);
    for (const [offset, windows] of expected) assert.equal(seen.get(offset) ?? 0, windows, `offset ${offset}`);
    assert.equal(stats.records, stats.assigned + stats.late + stats.rejected);
    assert.ok(stats.late > 0 && stats.partiallyLate > 0 && stats.rejected > 0 && stats.superseded > 0);
    assert.equal(stats.openSessions, 0);
    assert.equal(stats.bufferedRecords, 0);
  });

  it('config validation: each bad option is refused with a message naming it and its value', () => {
    const refuses = (options: Record<string, unknown>, message: RegExp) =>
      assert.throws(
        () => sessionWindows(options as SessionWindowOptions),
        (err: unknown) => err instanceof WindowOptionsError && message.test(err.message),
      );
    refuses({ sizeMs: 6500 }, /sizeMs must be a multiple of hopMs .* got sizeMs=6500, hopMs=1000; use e\.g\. sizeMs=6000 or 7000/);
    refuses({ hopMs: 0 }, /hopMs must be an integer >= 1 .*got 0/);
    refuses({ sizeMs: 500, hopMs: 1000 }, /sizeMs must be a multiple of hopMs .*got sizeMs=500, hopMs=1000/);
    refuses({ sizeMs: 2_000_000, hopMs: 1000 }, /at most 1000, got sizeMs=2000000, hopMs=1000; raise hopMs/);
    refuses({ allowedLatenessMs: -1 }, /allowedLatenessMs must be an integer >= 0 .*got -1/);
    refuses({ idleTimeoutMs: 1.5 }, /idleTimeoutMs must be an integer >= 1 .*got 1\.5/);
    refuses({ maxRecordsPerSession: 0 }, /maxRecordsPerSession must be an integer >= 1 .*got 0/);
    refuses({ maxEventTimeSkewMs: 5000 }, /maxEventTimeSkewMs must be an integer >= 7000 .*got 5000/);
    refuses({ maxEventTimeAheadMs: 0 }, /maxEventTimeAheadMs must be an integer >= 1 .*got 0/);
    refuses({ maxWatermarkJumpMs: -1 }, /maxWatermarkJumpMs must be an integer >= 0 .*got -1/);
    refuses({ endOfStream: 'first' }, /endOfStream must be 'all-modalities' or 'any', got "first"/);
    refuses({ hopMS: 1000 }, /unknown option "hopMS"; known options: sizeMs, hopMs/);
    refuses({ now: 5 }, /now must be a function/);
  });

  it("defaults (the config's): W 6 s, H 1 s, lateness 1 s, idle 30 s, skew 1 h, 10 min ahead, jump 1 s, 20 000 records a session, modality alignment 2 s", () => {
    const config = resolveWindowOptions();
    assert.deepEqual(
      { ...config, now: undefined, stats: undefined },
      {
        ...DEFAULT_WINDOW_OPTIONS,
        now: undefined,
        stats: undefined,
        hold: null,
        restored: null,
        revoked: null,
        inputBehind: null,
      },
    );
    assert.deepEqual(DEFAULT_WINDOW_OPTIONS, {
      sizeMs: 6000,
      hopMs: 1000,
      allowedLatenessMs: 1000,
      idleTimeoutMs: 30_000,
      maxEventTimeSkewMs: 3_600_000,
      maxEventTimeAheadMs: 600_000,
      maxWatermarkJumpMs: 1000,
      maxRecordsPerSession: 20_000,
      modalityIdleMs: 2000,
      endOfStream: 'all-modalities',
    });
    assert.equal(resolveWindowOptions({ sizeMs: undefined }).sizeMs, 6000);
  });
});

// ---- helpers for whole-event assertions ----------------------------------------------------

/** All events for `records` pushed synchronously (no timer fires), collected. */
function run(records: Rec[], options: SessionWindowOptions): Promise<WindowEvent[]> {
  return lastValueFrom(from(records).pipe(sessionWindows(options), toArray()) as Observable<WindowEvent[]>);
}

/** A small deterministic PRNG (mulberry32) so the property test is reproducible. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- watermark hold (the recogniser's transcript on its way) --------------------------------

describe('a watermark hold keeps windows open until the machine transcript of their audio has arrived', () => {
  /** A hold like the speech stage's: speech from `pendingFrom` is not transcribed yet (null: nothing pending). */
  const holder = () => {
    const h = { pendingFrom: null as number | null };
    return { h, hold: { heldAt: () => h.pendingFrom } };
  };
  const windowsOf = (events: WindowEvent[]) => events.filter((e) => e.type === 'window').map(brief);
  const kinds = (events: WindowEvent[]) => events.map((e) => e.type);

  it('windows after the pending speech stay open while audio goes on; the segment joins them, none is late', () => {
    const { h, hold } = holder();
    const w = createSessionWindowing(resolveWindowOptions({ ...SMALL, hold }));
    h.pendingFrom = 1000; // an utterance began at 1 s and is being transcribed
    const early = [0, 1000, 2000, 3000, 4000, 5000].flatMap((t, i) => w.accept(audio(i, 's1', t), t));
    // Without the hold, windows through [2000,5000) would close; with it, only those ending by 1 s.
    assert.deepEqual(windowsOf(early), ['s1 [-2000,1000) a@0 | 0']);
    h.pendingFrom = null; // the segment is on the transcript topic and about to be read
    const late = w.accept(segment(10, 's1', 'asr-1', 1000, 2500, 'hello there'), 5100);
    assert.ok(!kinds(late).includes('late'), 'the machine segment is not late');
    assert.deepEqual(windowsOf(late), [
      's1 [-1000,2000) a@0 a@1000 t:asr-1=hello there | 0,1,10',
      's1 [0,3000) a@0 a@1000 a@2000 t:asr-1=hello there | 0,1,2,10',
      's1 [1000,4000) a@1000 a@2000 a@3000 t:asr-1=hello there | 1,2,3,10',
      's1 [2000,5000) a@2000 a@3000 a@4000 t:asr-1=hello there | 2,3,4,10',
    ]);
  });

  it("a captioner's and the recogniser's transcripts of one session: the transcript ends when both have said endOfStream", () => {
    const w = createSessionWindowing(resolveWindowOptions({ ...SMALL, modalityIdleMs: 0, idleTimeoutMs: 60_000 }));
    const transcript = (offset: number, id: string, t: number, text: string, origin: string | null, endOfStream: boolean): Rec => {
      const r = segment(offset, 's1', id, t, t + 500, text);
      Object.assign(r.value.value, { origin, endOfStream });
      return r;
    };
    w.accept(transcript(1, 'human-1', 0, 'hello', null, false), 1);
    w.accept(transcript(2, 'asr-1', 100, 'hello', 'asr:whisper-tiny.en', false), 2);
    const asrEnd = w.accept(transcript(3, 'asr-end', 600, '', 'asr:whisper-tiny.en', true), 3);
    assert.ok(!kinds(asrEnd).includes('expired'), 'the recogniser ended; the captioner has not');
    const late = w.accept(transcript(4, 'human-2', 700, 'there', null, true), 4);
    assert.ok(kinds(late).includes('expired'), 'both ended: flushed');
    assert.ok(
      windowsOf(late).some((b) => b.includes('t:human-2=there')),
      "the captioner's last words are in a window",
    );
  });

  it('an ended session is not flushed while held; the transcript end flushes it; a lifted hold closes windows by the timer', () => {
    const { h, hold } = holder();
    const w = createSessionWindowing(resolveWindowOptions({ ...SMALL, modalityIdleMs: 2000, idleTimeoutMs: 60_000, hold }));
    h.pendingFrom = 0;
    w.accept(audio(0, 's1', 0), 0);
    const ended = w.accept(audio(1, 's1', 1000, true), 10);
    assert.deepEqual(windowsOf(ended), [], 'audio ended, its transcript is still being made');
    const due = w.dueIn('s1', 10);
    assert.ok(due !== null && due <= 250, `the timer looks again soon while held (due in ${due} ms)`);
    assert.deepEqual(w.checkIdle('s1', 5000).events, [], 'past modalityIdleMs, but still held: nothing flushed');
    h.pendingFrom = null;
    const last = segment(2, 's1', 'asr-1', 0, 900, 'fine');
    (last.value.value as TranscriptSegment).endOfStream = true;
    const flushed = w.accept(last, 5100);
    assert.ok(kinds(flushed).includes('expired'));
    assert.ok(windowsOf(flushed).some((b) => b.includes('t:asr-1=fine')));

    // A hold that lifts (or times out) with no record after it: the timer closes what it kept open.
    const { h: h2, hold: hold2 } = holder();
    const w2 = createSessionWindowing(resolveWindowOptions({ ...SMALL, idleTimeoutMs: 60_000, hold: hold2 }));
    h2.pendingFrom = 0;
    [0, 1000, 2000, 3000].forEach((t, i) => w2.accept(audio(i, 's2', t), t));
    assert.deepEqual(windowsOf(w2.checkIdle('s2', 3100).events), []);
    h2.pendingFrom = null;
    assert.deepEqual(windowsOf(w2.checkIdle('s2', 3200).events), [
      's2 [-2000,1000) a@0 | 0',
      's2 [-1000,2000) a@0 a@1000 | 0,1',
      's2 [0,3000) a@0 a@1000 a@2000 | 0,1,2',
    ]);
  });
});

// ---- event time that one record cannot poison ----------------------------------------------

describe('event time cannot be poisoned by one record', () => {
  const NOW = 1_760_000_000_000;
  /** A live session: audio every 200 ms from NOW, each arriving at its own event time. */
  const live = (from: number, count: number, firstOffset: number) =>
    Array.from({ length: count }, (_, i) => ({ rec: audio(firstOffset + i, 's1', NOW + from + i * 200), at: NOW + from + i * 200 }));
  const windowing = (options: SessionWindowOptions = {}) => createSessionWindowing(resolveWindowOptions({ modalityIdleMs: 0, now: () => NOW, ...options }));

  it('a record more than maxEventTimeAheadMs ahead of processing time is rejected TIME_OUT_OF_RANGE, naming both and the bound', () => {
    const w = windowing({ maxEventTimeAheadMs: 60_000 });
    const [near] = w.accept(audio(1, 's1', NOW + 60_000), NOW);
    assert.equal(near?.type, 'assigned', 'exactly the bound is accepted');
    const [far] = w.accept(audio(2, 's2', NOW + 50 * 60_000), NOW);
    assert.ok(far?.type === 'rejected');
    assert.equal(far.code, 'TIME_OUT_OF_RANGE');
    assert.match(far.reason, new RegExp(`eventTime ${NOW + 3_000_000} is 3000000 ms ahead of processing time ${NOW}, over maxEventTimeAheadMs=60000`));
    // A new session dated 2100 is refused too; with no bound (null) it is taken.
    const in2100 = Date.UTC(2100, 0, 1);
    assert.equal(w.accept(audio(3, 's3', in2100), NOW)[0]?.type, 'rejected');
    assert.equal(windowing({ maxEventTimeAheadMs: null }).accept(audio(3, 's3', in2100), NOW)[0]?.type, 'assigned');
  });

  it('one record far ahead (inside every bound) closes no window: none is lost, nothing later is late; it is windowed and flushed', () => {
    const w = windowing({ maxEventTimeAheadMs: null });
    const events: WindowEvent[] = [];
    for (const { rec, at } of live(0, 40, 1)) events.push(...w.accept(rec, at));
    const outlier = audio(100, 's1', NOW + 50 * 60_000);
    events.push(...w.accept(outlier, NOW + 8000));
    for (const { rec, at } of live(8000, 60, 200)) events.push(...w.accept(rec, at));
    events.push(...w.flushAll());
    assert.equal(events.filter((e) => e.type === 'late').length, 0, 'no record after the outlier is late');
    assert.ok(
      events.every((e) => e.type !== 'assigned' || e.missedWindows === 0),
      'no record missed a window',
    );
    const ends = events.flatMap((e) => (e.type === 'window' ? [e.window.end - NOW] : []));
    // Every window of the live stream [0, 19.8 s] is emitted, in order, then the outlier's six at the flush.
    const liveEnds = Array.from({ length: 25 }, (_, k) => (k + 1) * 1000);
    assert.deepEqual(ends.slice(0, 25), liveEnds);
    assert.deepEqual(
      ends.slice(25),
      Array.from({ length: 6 }, (_, k) => 50 * 60_000 + (k + 1) * 1000),
    );
  });

  it('without the guard (maxWatermarkJumpMs null) the same record closes the live windows: the test above would fail', () => {
    const w = windowing({ maxEventTimeAheadMs: null, maxWatermarkJumpMs: null });
    const events: WindowEvent[] = [];
    for (const { rec, at } of live(0, 40, 1)) events.push(...w.accept(rec, at));
    events.push(...w.accept(audio(100, 's1', NOW + 50 * 60_000), NOW + 8000));
    for (const { rec, at } of live(8000, 60, 200)) events.push(...w.accept(rec, at));
    assert.ok(events.filter((e) => e.type === 'late').length > 0);
  });

  it('a genuine jump (a pause) moves the watermark once a second record confirms it; a first record waits for a second', () => {
    const w = windowing({ maxEventTimeAheadMs: null, allowedLatenessMs: 0 });
    assert.deepEqual(kinds(w.accept(audio(1, 's1', NOW), NOW)), ['assigned'], 'the first record alone closes nothing');
    const second = w.accept(audio(2, 's1', NOW + 500), NOW + 500);
    assert.deepEqual(kinds(second), ['assigned'], 'within a window of the first: nothing to close yet');
    const afterPause = w.accept(audio(3, 's1', NOW + 20_000), NOW + 20_000);
    assert.deepEqual(kinds(afterPause), ['assigned'], 'the record after the pause is not trusted alone');
    const confirmed = w.accept(audio(4, 's1', NOW + 20_200), NOW + 20_200);
    assert.deepEqual(
      confirmed.filter((e) => e.type === 'window').map((e) => (e.type === 'window' ? e.window.end - NOW : 0)),
      [1000, 2000, 3000, 4000, 5000, 6000],
      "the next one confirms it: the first records' windows close",
    );
  });

  it('an outlier first record does not make the session it opens late', () => {
    const w = windowing({ maxEventTimeAheadMs: null });
    const events = w.accept(audio(1, 's1', NOW + 40 * 60_000), NOW);
    for (const { rec, at } of live(0, 50, 2)) events.push(...w.accept(rec, at));
    assert.equal(events.filter((e) => e.type === 'late' || e.type === 'rejected').length, 0);
    assert.ok(events.some((e) => e.type === 'window' && e.window.end === NOW + 1000));
  });

  const kinds = (events: WindowEvent[]) => events.map((e) => e.type);
});

describe('a failure while windowing one record is caught', () => {
  it('the record is rejected PROCESSING_FAILED with the error, counted, and other sessions go on', () => {
    const stats = createWindowStats();
    // The hold is consulted for every record's watermark: make it throw for one session.
    const hold = {
      heldAt: (sessionId: string) => {
        if (sessionId === 'bad') throw new TypeError('boom in the hold');
        return null;
      },
    };
    const w = createSessionWindowing(resolveWindowOptions({ ...SMALL, stats, hold }));
    const [failed] = w.accept(audio(1, 'bad', 0), 0);
    assert.ok(failed?.type === 'rejected');
    assert.equal(failed.code, 'PROCESSING_FAILED');
    assert.match(failed.reason, /TypeError: boom in the hold/);
    assert.equal(stats.rejectedByCode.PROCESSING_FAILED, 1);
    w.accept(audio(2, 'good', 0), 0);
    const later = w.accept(audio(3, 'good', 5000), 1);
    assert.ok(later.some((e) => e.type === 'window' && e.window.sessionId === 'good'));
  });
});

describe('rebalance and restart', () => {
  const windowsOf = (events: WindowEvent[]) => events.filter((e) => e.type === 'window').map(brief);
  const onPartition = (rec: Rec, partition: number): Rec => ({ ...rec, position: { ...rec.position!, partition } });

  it('drops the sessions of revoked partitions at once, without emitting their windows', () => {
    const stats = createWindowStats();
    const w = createSessionWindowing(resolveWindowOptions({ ...SMALL, stats }));
    w.accept(onPartition(audio(0, 'on-0', 0), 0), 0);
    w.accept(onPartition(audio(1, 'on-1', 0), 1), 0);
    w.accept(onPartition(audio(2, 'on-1', 1000), 1), 0);
    assert.equal(stats.openSessions, 2);
    assert.deepEqual(w.dropPartitions(new Set([1])), ['on-1']);
    assert.equal(stats.openSessions, 1);
    assert.equal(stats.bufferedRecords, 1, 'the dropped session no longer holds records');
    assert.equal(stats.revokedSessions, 1);
    assert.equal(w.tracks('on-1'), false);
    assert.deepEqual(w.checkIdle('on-1', 10_000).events, [], 'no timer flush later either');
    const flushed = w.flushAll();
    assert.deepEqual(
      flushed.filter((e) => e.type === 'window').map((e) => (e.type === 'window' ? e.window.sessionId : '')),
      ['on-0', 'on-0', 'on-0'],
      'only the kept session is flushed at the end',
    );
  });

  it('sessionWindows announces the dropped sessions in one revoked event and emits nothing of theirs', async () => {
    const { Subject } = await import('rxjs');
    const revoked = new Subject<readonly number[]>();
    const input = new Subject<Rec>();
    const events: string[] = [];
    const sub = input.pipe(sessionWindows({ ...SMALL, revoked, idleTimeoutMs: 50 })).subscribe((e) => events.push(brief(e)));
    input.next(onPartition(audio(0, 'a', 0), 2));
    input.next(onPartition(audio(1, 'b', 0), 3));
    revoked.next([2]);
    await new Promise((r) => setTimeout(r, 120)); // past the idle timeout: b flushes, a must not
    sub.unsubscribe();
    assert.deepEqual(events.slice(0, 3), ['assigned 0 x3', 'assigned 1 x3', 'revoked 2: a']);
    assert.ok(!events.slice(3).some((e) => e.startsWith('a ') || e.includes('expired a')), events.join('\n'));
    assert.ok(
      events.some((e) => e.startsWith('b [')),
      'the kept session still flushes',
    );
  });

  it('restored state: a re-read record of an already-scored window is settled, neither re-scored nor late', () => {
    const stats = createWindowStats();
    const w = createSessionWindowing(resolveWindowOptions({ ...SMALL, stats, restored: (id) => (id === 's' ? 3000 : undefined) }));
    // Windows ending at or before 3000 were scored before the restart.
    const again = w.accept(audio(0, 's', 500), 0);
    assert.deepEqual(again.map(brief), ['assigned 0 x0 missed 3']);
    assert.equal(stats.alreadyScored, 1);
    assert.equal(stats.late, 0);
    // A record spanning scored and open windows joins the open ones only.
    const mixed = w.accept(audio(1, 's', 2500), 0);
    assert.deepEqual(mixed.map(brief), ['assigned 1 x2 missed 1']);
    assert.equal(stats.partiallyLate, 0, 'missing an already-scored window is not lateness');
    const out = w.accept(audio(2, 's', 6000), 0);
    assert.deepEqual(windowsOf(out), ['s [1000,4000) a@2500 | 1', 's [2000,5000) a@2500 | 1']);
    // A session without restored state is unaffected.
    assert.deepEqual(w.accept(audio(3, 'other', 500), 0).map(brief), ['assigned 3 x3']);
  });
});
