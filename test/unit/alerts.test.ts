import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAlertEvaluator, DEFAULT_ALERT_RULE, type Alert, type AlertRule } from '../../src/scores/alerts.js';

const T0 = 1_760_000_000_000;
const rule: AlertRule = { name: 'neg', when: 'below', threshold: -1, forMs: 10_000 };

/** Feeds one score a second (window ends T0+1s, T0+2s, ...) and returns every transition. */
function feed(evaluator: ReturnType<typeof createAlertEvaluator>, sessionId: string, scores: number[], startSecond = 1): Alert[] {
  return scores.flatMap((score, i) => evaluator.update({ sessionId, windowEnd: T0 + (startSecond + i) * 1000, score }, T0 + i));
}

test('fires once the score has stayed below the threshold for forMs of event time, not before', () => {
  const a = createAlertEvaluator({ rules: [rule] });
  // 10 scores below cover 9 s (first window end to last): not yet.
  assert.deepEqual(feed(a, 's', Array(10).fill(-1.5)), []);
  const fired = feed(a, 's', [-1.2], 11);
  assert.equal(fired.length, 1);
  assert.deepEqual(
    { ...fired[0], message: undefined },
    { type: 'alert', sessionId: 's', rule: 'neg', state: 'firing', since: T0 + 1000, at: T0 + 11_000, score: -1.2, message: undefined },
  );
  assert.match(fired[0]!.message, /below -1\.00 for 10 s/);
  // Still below: no repeat.
  assert.deepEqual(feed(a, 's', [-2, -2, -2], 12), []);
  assert.equal(a.stats().firing, 1);
  assert.equal(a.firing().length, 1);
});

test('a score at or above the threshold restarts the stretch', () => {
  const a = createAlertEvaluator({ rules: [rule] });
  assert.deepEqual(feed(a, 's', [...Array(9).fill(-1.5), -1, ...Array(9).fill(-1.5)]), []);
  assert.equal(feed(a, 's', [-1.5, -1.5], 20).length, 1); // 11 below in a row from second 11
});

test('resolves once when the score recovers, with the stretch start as since', () => {
  const a = createAlertEvaluator({ rules: [rule] });
  feed(a, 's', Array(11).fill(-1.5));
  const resolved = feed(a, 's', [-0.4, 0.2, -0.1], 12);
  assert.equal(resolved.length, 1);
  assert.equal(resolved[0]!.state, 'resolved');
  assert.equal(resolved[0]!.reason, 'recovered');
  assert.equal(resolved[0]!.since, T0 + 1000);
  assert.equal(resolved[0]!.at, T0 + 12_000);
  assert.equal(a.stats().firing, 0);
  // It can fire again after a new full stretch.
  assert.equal(feed(a, 's', Array(11).fill(-2), 20).filter((x) => x.state === 'firing').length, 1);
  assert.deepEqual({ fired: a.stats().fired, resolved: a.stats().resolved }, { fired: 2, resolved: 1 });
});

test('hysteresis: stays firing until the score is past threshold + hysteresis', () => {
  const a = createAlertEvaluator({ rules: [{ ...rule, hysteresis: 0.5 }] });
  feed(a, 's', Array(11).fill(-1.5));
  assert.deepEqual(feed(a, 's', [-0.8, -0.6], 12), []);
  assert.equal(feed(a, 's', [-0.5], 14)[0]?.state, 'resolved');
});

test('an above rule mirrors it; forMs 0 fires on the first score', () => {
  const a = createAlertEvaluator({ rules: [{ name: 'pos', when: 'above', threshold: 2, forMs: 0 }] });
  assert.equal(feed(a, 's', [2])[0], undefined); // not strictly above
  assert.equal(feed(a, 's', [2.1], 2)[0]?.state, 'firing');
  assert.equal(feed(a, 's', [2], 3)[0]?.state, 'resolved');
});

test('sessions are independent', () => {
  const a = createAlertEvaluator({ rules: [rule] });
  const out: Alert[] = [];
  for (let i = 1; i <= 11; i++) {
    out.push(...a.update({ sessionId: 'neg', windowEnd: T0 + i * 1000, score: -2 }, T0));
    out.push(...a.update({ sessionId: 'pos', windowEnd: T0 + i * 1000, score: i === 6 ? 0 : -2 }, T0));
  }
  assert.deepEqual(
    out.map((x) => [x.sessionId, x.state]),
    [['neg', 'firing']],
  );
});

test('a duplicate or older window changes nothing', () => {
  const a = createAlertEvaluator({ rules: [rule] });
  feed(a, 's', Array(11).fill(-1.5));
  assert.deepEqual(a.update({ sessionId: 's', windowEnd: T0 + 5000, score: 3 }, T0), []);
  assert.deepEqual(a.update({ sessionId: 's', windowEnd: T0 + 11_000, score: 3 }, T0), []);
  assert.equal(a.stats().firing, 1);
});

test('several rules each fire and resolve on their own', () => {
  const a = createAlertEvaluator({ rules: [rule, { name: 'very-neg', when: 'below', threshold: -2, forMs: 2000 }] });
  const out = feed(a, 's', [-2.5, -2.5, -2.5, -1.5, -1.5, -1.5, -1.5, -1.5, -1.5, -1.5, -1.5, 0]);
  assert.deepEqual(
    out.map((x) => `${x.rule}:${x.state}@${(x.at - T0) / 1000}`),
    ['very-neg:firing@3', 'very-neg:resolved@4', 'neg:firing@11', 'neg:resolved@12'],
  );
});

test('expire frees a session and resolves its firing alerts; sweep expires idle sessions', () => {
  const a = createAlertEvaluator({ rules: [rule], idleTimeoutMs: 30_000 });
  feed(a, 'gone', Array(11).fill(-1.5)); // lastSeen T0..T0+10
  a.update({ sessionId: 'quiet', windowEnd: T0 + 1000, score: 0 }, T0 + 20_000);
  const expired = a.expire('gone');
  assert.deepEqual(
    expired.map((x) => [x.state, x.reason, x.at - T0, x.score]),
    [['resolved', 'expired', 11_000, -1.5]],
  );
  assert.deepEqual(a.expire('gone'), []);
  assert.equal(a.stats().sessions, 1);
  assert.deepEqual(a.sweep(T0 + 40_000), []); // quiet: seen 20 s ago
  assert.deepEqual(a.sweep(T0 + 50_000), []); // expired silently: nothing was firing
  assert.equal(a.stats().sessions, 0);
});

test('state is bounded: beyond maxSessions the least recently scored session is dropped, its alert resolved', () => {
  const a = createAlertEvaluator({ rules: [{ ...rule, forMs: 0 }], maxSessions: 3 });
  const out: Alert[] = [];
  for (let i = 0; i < 10; i++) out.push(...a.update({ sessionId: `s${i}`, windowEnd: T0 + 1000, score: -2 }, T0 + i));
  assert.equal(a.stats().sessions, 3);
  assert.equal(a.stats().evicted, 7);
  assert.equal(a.stats().firing, 3);
  const evicted = out.filter((x) => x.state === 'resolved');
  assert.deepEqual(
    evicted.map((x) => x.sessionId),
    ['s0', 's1', 's2', 's3', 's4', 's5', 's6'],
  );
  assert.ok(evicted.every((x) => x.reason === 'evicted'));
  // Every firing alert is followed by exactly one resolution or is still firing.
  assert.equal(out.filter((x) => x.state === 'firing').length, 10);
});

test('bad rules are refused with the offending value', () => {
  assert.throws(() => createAlertEvaluator({ rules: [rule, rule] }), /defined twice/);
  assert.throws(() => createAlertEvaluator({ rules: [{ ...rule, threshold: -4 }] }), /threshold must be in \[-3, 3\], got -4/);
  assert.throws(() => createAlertEvaluator({ rules: [{ ...rule, forMs: -1 }] }), /forMs must be an integer >= 0, got -1/);
  assert.throws(() => createAlertEvaluator({ rules: [rule], maxSessions: 0 }), /maxSessions/);
  assert.equal(DEFAULT_ALERT_RULE.threshold, -1);
  assert.equal(DEFAULT_ALERT_RULE.forMs, 10_000);
});

test('reached: time counts to min(windowEnd, reached), so flushed windows past the last record add no time', () => {
  const a = createAlertEvaluator({ rules: [rule] });
  // A clip whose records stop at 7.5 s: its last windows (ends 8..13 s) are flushed at end of
  // stream; their records reach 7.5 s only. Window end minus since would say 12 s.
  const out: Alert[] = [];
  for (let end = 1; end <= 13; end++) out.push(...a.update({ sessionId: 's', windowEnd: T0 + end * 1000, score: -2 }, T0, T0 + Math.min(end * 1000, 7500)));
  assert.deepEqual(out, []);
  assert.equal(a.stats().firing, 0);
  // Without reached, the same scores fire at the 11th window end (as before).
  const b = createAlertEvaluator({ rules: [rule] });
  assert.equal(feed(b, 's', Array(13).fill(-2)).length, 1);
});

test('reached: a stretch measured over reached time fires, its since and durations in that time; time never goes back', () => {
  const a = createAlertEvaluator({ rules: [rule] });
  const out: Alert[] = [];
  // Records reach 300 ms short of each window end, then stop at 12 s; a later window reaching less adds nothing.
  const reachedAt = [700, 1700, 2700, 3700, 4700, 5700, 6700, 7700, 8700, 9700, 10_700, 11_700, 12_000, 11_000];
  reachedAt.forEach((r, i) => out.push(...a.update({ sessionId: 's', windowEnd: T0 + (i + 1) * 1000, score: -2 }, T0, T0 + r)));
  assert.equal(out.length, 1);
  assert.deepEqual([out[0]!.state, out[0]!.since - T0, out[0]!.at - T0], ['firing', 700, 11_000]);
  assert.match(out[0]!.message, /for 10 s$/);
  const [expired] = a.expire('s');
  assert.deepEqual([expired!.reason, expired!.at - T0], ['expired', 14_000]);
  assert.match(expired!.message, /after 11\.3 s\)$/);
});
