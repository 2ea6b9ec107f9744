import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { PausableScheduler } from '../../src/operators/pausableScheduler.js';
import { sessionWindows } from '../../src/windows/sessionWindows.js';
import type { InputRecord } from '../../src/schemas/records.js';
import type { Positioned, WindowEvent } from '../../src/windows/types.js';

const testScheduler = () => new TestScheduler((a, b) => assert.deepEqual(a, b));

test('the clock stands still while paused and goes on from there', () => {
  const ts = testScheduler();
  ts.run(({ flush }) => {
    const clock = new PausableScheduler(ts);
    const seen: number[] = [];
    ts.schedule(() => clock.pause(), 1000);
    ts.schedule(() => clock.pause(), 1500); // idempotent
    ts.schedule(() => seen.push(clock.now()), 3000);
    ts.schedule(() => clock.resume(), 4000);
    ts.schedule(() => clock.resume(), 4500); // idempotent
    ts.schedule(() => seen.push(clock.now()), 6000);
    flush();
    assert.deepEqual(seen, [1000, 3000]);
  });
});

test('a session is not flushed for idleness while the clock is paused, and is once it ran idleTimeoutMs', () => {
  const ts = testScheduler();
  ts.run(({ flush }) => {
    const clock = new PausableScheduler(ts);
    const input = new Subject<Positioned<InputRecord>>();
    const events: WindowEvent[] = [];
    input
      .pipe(sessionWindows({ sizeMs: 2000, hopMs: 1000, allowedLatenessMs: 0, idleTimeoutMs: 10_000, modalityIdleMs: 0 }, clock))
      .subscribe((e) => events.push(e));
    const audio = (eventTime: number): Positioned<InputRecord> => ({
      value: {
        kind: 'audio',
        value: { sessionId: 's', seq: eventTime, eventTime, sampleRate: 16000, encoding: 'S16LE', samples: Buffer.alloc(2), endOfStream: false },
      },
    });
    input.next(audio(1000));
    input.next(audio(1500));
    ts.schedule(() => clock.pause(), 2_000);
    ts.schedule(() => clock.resume(), 62_000); // a 60 s outage
    let expiredAt = -1;
    const watch = () => {
      if (expiredAt < 0 && events.some((e) => e.type === 'expired')) expiredAt = ts.now();
    };
    for (let t = 1000; t <= 80_000; t += 1000) ts.schedule(watch, t);
    flush();
    // Idle for 2 s before the pause and 8 s after it: flushed at 70 s, not at 10 s.
    assert.ok(expiredAt >= 70_000 && expiredAt <= 71_000, `expired at ${expiredAt}`);
  });
});
