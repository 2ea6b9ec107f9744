import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { confidenceOf, polarityOf, rollingScore, type RollingScoreOptions, type SkipReason, type WindowResult } from '../../src/scores/rollingScore.js';
import type { Score } from '../../src/schemas/records.js';

const HOP = 1000;

/** A window result of session `sessionId` ending at `windowEnd` (6 s windows), closed 100 ms after its end. */
function result(sessionId: string, windowEnd: number, windowScore: number): WindowResult {
  return {
    sessionId,
    windowStart: windowEnd - 6000,
    windowEnd,
    windowScore,
    contributions: { text: windowScore / 2, audio: windowScore / 4, video: windowScore / 4 },
    modalities: { text: true, audio: true, video: false },
    modalitiesUsed: { text: true, audio: false, video: false },
    modelVersion: 'cenet-test@1',
    records: 7,
    closedAt: windowEnd + 100,
  };
}

/** The fields a marble test compares; the rest is checked once in its own test. */
const brief = (s: Score) => ({ id: s.sessionId, end: s.windowEnd, score: round(s.score), polarity: s.polarity });
const round = (x: number) => Math.round(x * 1e6) / 1e6;

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

/** Runs `marbles` (values from `values`) through rollingScore and expects `expected` (brief form). */
function expectScores(
  marbles: string,
  values: Record<string, WindowResult>,
  options: RollingScoreOptions,
  expectedMarbles: string,
  expected: Record<string, ReturnType<typeof brief>>,
  expiredMarbles?: string,
  expiredValues?: Record<string, string>,
): void {
  const ts = scheduler();
  ts.run(({ cold, hot, expectObservable }) => {
    const expired = expiredMarbles === undefined ? undefined : hot(expiredMarbles, expiredValues);
    const out = cold(marbles, values).pipe(rollingScore({ now: () => ts.now(), ...options, expired }), map(brief));
    expectObservable(out).toBe(expectedMarbles, expected);
  });
}

describe('rollingScore', () => {
  it('smooths with an EMA (alpha 0.5): 2, then 0.5*(-2)+0.5*2 = 0, then 0.5*1+0.5*0 = 0.5', () => {
    expectScores(
      'a-b-c|',
      { a: result('s1', 1 * HOP, 2), b: result('s1', 2 * HOP, -2), c: result('s1', 3 * HOP, 1) },
      { smoothing: { method: 'ema', alpha: 0.5 } },
      'a-b-c|',
      {
        a: { id: 's1', end: 1000, score: 2, polarity: 'POSITIVE' },
        b: { id: 's1', end: 2000, score: 0, polarity: 'NEUTRAL' },
        c: { id: 's1', end: 3000, score: 0.5, polarity: 'POSITIVE' },
      },
    );
  });

  it('defaults to an EMA with alpha 0.3: 1, then 0.3*2+0.7*1 = 1.3, then 0.3*(-1)+0.7*1.3 = 0.61', () => {
    expectScores('abc|', { a: result('s1', 1000, 1), b: result('s1', 2000, 2), c: result('s1', 3000, -1) }, {}, 'abc|', {
      a: { id: 's1', end: 1000, score: 1, polarity: 'POSITIVE' },
      b: { id: 's1', end: 2000, score: 1.3, polarity: 'POSITIVE' },
      c: { id: 's1', end: 3000, score: 0.61, polarity: 'POSITIVE' },
    });
  });

  it('smooths with the mean of the last 3 windows', () => {
    expectScores(
      'a-b-c-d-e|',
      {
        a: result('s1', 1000, 3),
        b: result('s1', 2000, 0),
        c: result('s1', 3000, -3),
        d: result('s1', 4000, -3),
        e: result('s1', 5000, -1.5),
      },
      { smoothing: { method: 'mean', windows: 3 } },
      'a-b-c-d-e|',
      {
        a: { id: 's1', end: 1000, score: 3, polarity: 'POSITIVE' }, // (3) / 1
        b: { id: 's1', end: 2000, score: 1.5, polarity: 'POSITIVE' }, // (3 + 0) / 2
        c: { id: 's1', end: 3000, score: 0, polarity: 'NEUTRAL' }, // (3 + 0 - 3) / 3
        d: { id: 's1', end: 4000, score: -2, polarity: 'NEGATIVE' }, // (0 - 3 - 3) / 3
        e: { id: 's1', end: 5000, score: -2.5, polarity: 'NEGATIVE' }, // (-3 - 3 - 1.5) / 3
      },
    );
  });

  it('labels |score| < band NEUTRAL, the band edge and beyond by sign (band 0.5 and 1)', () => {
    const values = {
      a: result('s1', 1000, 0.49),
      b: result('s2', 1000, 0.5),
      c: result('s3', 1000, -0.5),
      d: result('s4', 1000, -0.49),
      e: result('s5', 1000, 0),
    };
    expectScores('abcde|', values, {}, 'abcde|', {
      a: { id: 's1', end: 1000, score: 0.49, polarity: 'NEUTRAL' },
      b: { id: 's2', end: 1000, score: 0.5, polarity: 'POSITIVE' },
      c: { id: 's3', end: 1000, score: -0.5, polarity: 'NEGATIVE' },
      d: { id: 's4', end: 1000, score: -0.49, polarity: 'NEUTRAL' },
      e: { id: 's5', end: 1000, score: 0, polarity: 'NEUTRAL' },
    });
    expectScores('ab|', { a: result('s1', 1000, 0.9), b: result('s2', 1000, -1) }, { neutralBand: 1 }, 'ab|', {
      a: { id: 's1', end: 1000, score: 0.9, polarity: 'NEUTRAL' },
      b: { id: 's2', end: 1000, score: -1, polarity: 'NEGATIVE' },
    });
  });

  it('keeps sessions independent, even interleaved', () => {
    expectScores(
      'a-x-b-y|',
      { a: result('s1', 1000, 2), x: result('s2', 1000, -2), b: result('s1', 2000, 0), y: result('s2', 2000, -1) },
      { smoothing: { method: 'ema', alpha: 0.5 } },
      'a-x-b-y|',
      {
        a: { id: 's1', end: 1000, score: 2, polarity: 'POSITIVE' },
        x: { id: 's2', end: 1000, score: -2, polarity: 'NEGATIVE' },
        b: { id: 's1', end: 2000, score: 1, polarity: 'POSITIVE' },
        y: { id: 's2', end: 2000, score: -1.5, polarity: 'NEGATIVE' },
      },
    );
  });

  it('frees a session on expiry: its next window starts from scratch; other sessions keep their state', () => {
    expectScores(
      'a-x--b-y|',
      { a: result('s1', 1000, 2), x: result('s2', 1000, 2), b: result('s1', 9000, -2), y: result('s2', 2000, -2) },
      { smoothing: { method: 'ema', alpha: 0.5 } },
      'a-x--b-y|',
      {
        a: { id: 's1', end: 1000, score: 2, polarity: 'POSITIVE' },
        x: { id: 's2', end: 1000, score: 2, polarity: 'POSITIVE' },
        b: { id: 's1', end: 9000, score: -2, polarity: 'NEGATIVE' }, // no memory of the 2
        y: { id: 's2', end: 2000, score: 0, polarity: 'NEUTRAL' }, // 0.5*(-2) + 0.5*2
      },
      '----e',
      { e: 's1' },
    );
  });

  it('frees state on expiry so a window end older than before is accepted again', () => {
    expectScores(
      'a-b|',
      { a: result('s1', 5000, 2), b: result('s1', 1000, -1) },
      {},
      'a-b|',
      {
        a: { id: 's1', end: 5000, score: 2, polarity: 'POSITIVE' },
        b: { id: 's1', end: 1000, score: -1, polarity: 'NEGATIVE' },
      },
      '-e',
      { e: 's1' },
    );
  });

  it('bounds state to maxSessions, evicting the least recently scored session', () => {
    const evicted: string[] = [];
    expectScores(
      'abca|',
      { a: result('s1', 1000, 2), b: result('s2', 1000, 1), c: result('s3', 1000, 1) },
      { smoothing: { method: 'ema', alpha: 0.5 }, maxSessions: 2, onEvict: (id) => evicted.push(id) },
      'abcz|',
      {
        a: { id: 's1', end: 1000, score: 2, polarity: 'POSITIVE' },
        b: { id: 's2', end: 1000, score: 1, polarity: 'POSITIVE' },
        c: { id: 's3', end: 1000, score: 1, polarity: 'POSITIVE' },
        // s1 was evicted for s3, so its repeated window end is new to it again, not a duplicate.
        z: { id: 's1', end: 1000, score: 2, polarity: 'POSITIVE' },
      },
    );
    assert.deepEqual(evicted, ['s1', 's2']);
  });

  it('clamps window scores to [-3, 3] before smoothing, so the rolling score stays in range', () => {
    expectScores(
      'a-b-c|',
      { a: result('s1', 1000, 7), b: result('s1', 2000, 5), c: result('s1', 3000, -100) },
      { smoothing: { method: 'ema', alpha: 0.5 } },
      'a-b-c|',
      {
        a: { id: 's1', end: 1000, score: 3, polarity: 'POSITIVE' },
        b: { id: 's1', end: 2000, score: 3, polarity: 'POSITIVE' },
        c: { id: 's1', end: 3000, score: 0, polarity: 'NEUTRAL' }, // 0.5*(-3) + 0.5*3
      },
    );
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const out = cold('a|', { a: result('s1', 1000, -9) }).pipe(
        rollingScore(),
        map((s) => [s.score, s.windowScore]),
      );
      expectObservable(out).toBe('a|', { a: [-3, -3] });
    });
  });

  it('emits a late window unsmoothed without touching state; drops duplicates and non-finite scores', () => {
    const skipped: Array<[number, SkipReason]> = [];
    expectScores(
      'a-b-c-d-e-f|',
      {
        a: result('s1', 2000, 2),
        b: result('s1', 1000, -3), // late
        c: result('s1', 2000, -3), // duplicate of a
        d: result('s1', 3000, Number.NaN), // invalid
        e: result('s1', 3000, 0), // in order: smoothed against a only
        f: result('s1', 2500, 1), // late again
      },
      { smoothing: { method: 'ema', alpha: 0.5 }, onSkip: (r, why) => skipped.push([r.windowEnd, why]) },
      'a-b-----e-f|',
      {
        a: { id: 's1', end: 2000, score: 2, polarity: 'POSITIVE' },
        b: { id: 's1', end: 1000, score: -3, polarity: 'NEGATIVE' },
        e: { id: 's1', end: 3000, score: 1, polarity: 'POSITIVE' },
        f: { id: 's1', end: 2500, score: 1, polarity: 'POSITIVE' },
      },
    );
    assert.deepEqual(skipped, [
      [1000, 'late'],
      [2000, 'duplicate'],
      [3000, 'invalid'],
      [2500, 'late'],
    ]);
  });

  it("drops late windows with late: 'drop'", () => {
    expectScores(
      'a-b-c|',
      { a: result('s1', 2000, 2), b: result('s1', 1000, -3), c: result('s1', 3000, 0) },
      { smoothing: { method: 'ema', alpha: 0.5 }, late: 'drop' },
      'a---c|',
      {
        a: { id: 's1', end: 2000, score: 2, polarity: 'POSITIVE' },
        c: { id: 's1', end: 3000, score: 1, polarity: 'POSITIVE' },
      },
    );
  });

  it('fills every Score field: latency from closedAt to now, confidence, contributions passed through', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      // Virtual time starts at 0, so make the window close at -100 and expect now() = 5.
      const r = { ...result('s1', 1000, -1.75), closedAt: -100 };
      const out = cold('-----a|', { a: r }).pipe(rollingScore({ now: () => ts.now() }));
      expectObservable(out).toBe('-----a|', {
        a: {
          sessionId: 's1',
          windowStart: -5000,
          windowEnd: 1000,
          score: -1.75,
          windowScore: -1.75,
          polarity: 'NEGATIVE',
          confidence: 0.5, // (1.75 - 0.5) / (3 - 0.5)
          contributions: { text: -0.875, audio: -0.4375, video: -0.4375 },
          modalities: { text: true, audio: true, video: false },
          modalitiesUsed: { text: true, audio: false, video: false },
          modelVersion: 'cenet-test@1',
          records: 7,
          latencyMs: 105,
          emittedAt: 5,
        } satisfies Score,
      });
    });
  });

  it('passes errors on and unsubscribes from the source and the expiry signal on teardown', () => {
    const ts = scheduler();
    ts.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const src = cold('a-#', { a: result('s1', 1000, 1) });
      const expired = hot('------e', { e: 's1' });
      expectObservable(src.pipe(rollingScore({ expired }), map(brief))).toBe('a-#', {
        a: { id: 's1', end: 1000, score: 1, polarity: 'POSITIVE' },
      });
      expectSubscriptions(src.subscriptions).toBe('^-!');
      expectSubscriptions(expired.subscriptions).toBe('^-!');
    });
    const ts2 = scheduler();
    ts2.run(({ cold, hot, expectObservable }) => {
      const src = cold('a----', { a: result('s1', 1000, 1) });
      const expired = hot('--#');
      expectObservable(
        src.pipe(
          rollingScore({ expired }),
          map((s) => s.sessionId),
        ),
      ).toBe('a-#', { a: 's1' });
    });
  });

  it('computes confidence as distance from the band edge, scaled to 0..1', () => {
    assert.equal(confidenceOf(0, 0.5), 1);
    assert.equal(confidenceOf(0.25, 0.5), 0.5);
    assert.equal(confidenceOf(-0.5, 0.5), 0);
    assert.equal(confidenceOf(3, 0.5), 1);
    assert.equal(confidenceOf(-3, 0.5), 1);
    assert.equal(confidenceOf(1.5, 0), 0.5);
    assert.equal(polarityOf(0, 0), 'NEUTRAL');
    assert.equal(polarityOf(0.01, 0), 'POSITIVE');
  });

  it('refuses bad options, naming the value', () => {
    assert.throws(() => rollingScore({ smoothing: { method: 'ema', alpha: 0 } }), /alpha must be in \(0, 1\], got 0/);
    assert.throws(() => rollingScore({ smoothing: { method: 'mean', windows: 1.5 } }), /windows must be an integer >= 1, got 1.5/);
    assert.throws(() => rollingScore({ neutralBand: 3 }), /neutralBand must be in \[0, 3\), got 3/);
    assert.throws(() => rollingScore({ maxSessions: 0 }), /maxSessions must be an integer >= 1, got 0/);
  });
});
