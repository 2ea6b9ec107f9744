import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InputRecord } from '../../src/schemas/records.js';
import { createSessionWindowing, resolveWindowOptions, type Positioned, type WindowEvent } from '../../src/windows/index.js';

// A session silent for idleTimeoutMs because its input partition lags (records on their way, not
// silence) must not be flushed: flushing made every record of it still unread late. At 400
// load-bench sessions 18,361 audio records went to the late topic that way (README, Load).

const audio = (offset: number, eventTime: number): Positioned<InputRecord> => ({
  value: {
    kind: 'audio',
    value: { sessionId: 's1', seq: offset, eventTime, sampleRate: 16000, encoding: 'S16LE', samples: Buffer.alloc(4), endOfStream: false },
  },
  position: { topic: 'audio', partition: 0, offset: String(offset) },
});

const kinds = (events: WindowEvent[]) => events.map((e) => (e.type === 'window' ? `window ${e.window.end} x${e.window.audio.length}` : e.type));

describe('session idle timeout and input lag', () => {
  it('a session silent while its partition is behind is not flushed; once caught up it is, with its backlog', () => {
    const behind = { audio: true };
    const w = createSessionWindowing(
      resolveWindowOptions({
        sizeMs: 3000,
        hopMs: 1000,
        allowedLatenessMs: 0,
        idleTimeoutMs: 5000,
        modalityIdleMs: 500,
        maxWatermarkJumpMs: null,
        inputBehind: (kind) => kind === 'audio' && behind.audio,
      }),
    );
    assert.deepEqual(kinds(w.accept(audio(1, 0), 0)), ['assigned']);
    assert.deepEqual(kinds(w.accept(audio(2, 100), 100)), ['assigned']);
    // 6 s without a record, the partition still behind: lag, not idleness.
    const check = w.checkIdle('s1', 6100);
    assert.deepEqual(kinds(check.events), [], 'not flushed while its partition is behind');
    assert.ok(check.recheckInMs !== null && check.recheckInMs > 0, 'checked again later');
    // The backlog arrives: it joins its windows instead of going late.
    assert.deepEqual(kinds(w.accept(audio(3, 200), 6200)), ['assigned'], 'not late');
    // Caught up and silent for the idle timeout: flushed, every record in its windows.
    behind.audio = false;
    assert.deepEqual(kinds(w.checkIdle('s1', 11_300).events), ['window 1000 x3', 'window 2000 x3', 'window 3000 x3', 'expired']);
  });
});
