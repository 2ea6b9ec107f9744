/**
 * scoreWindows and session expiry: the windowing stage announces a session's expiry right after
 * its last windows, while they still wait for the model. The rolling state must outlive them, so
 * the last scores of an ended session are smoothed like the others; after them the state is gone,
 * and an 'ended' marker follows the last score (what frees the session's alert state).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Subject, from, lastValueFrom, toArray } from 'rxjs';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import type { ModelInput, ModelOutput } from '../../src/model/types.js';
import { scoreWindows } from '../../src/pipeline/scoring.js';
import type { TranscriptSegment } from '../../src/schemas/records.js';
import type { SessionWindow } from '../../src/windows/types.js';
import { TOKENIZER_DIR } from '../fixtures/servedModel.js';
import { transcriptSegment } from '../fixtures/records.js';

const T0 = 1_760_000_000_000;

function window(sessionId: string, end: number, text: string): SessionWindow {
  const segment: TranscriptSegment = transcriptSegment({
    sessionId,
    segmentId: `${sessionId}-${end}`,
    eventTime: T0 + end - 500,
    endTime: T0 + end - 100,
    text,
    words: text.split(' ').map((word, i) => ({ word, start: T0 + end - 500 + i * 10, end: T0 + end - 495 + i * 10, confidence: null })),
    language: null,
  });
  return { sessionId, start: T0 + end - 1000, end: T0 + end, audio: [], video: [], transcript: [segment], positions: [], closedAt: 0 };
}

describe('scoreWindows: session expiry waits for the windows still being scored', () => {
  it('smooths the last windows of an expired session, and starts afresh after them', async () => {
    const tokenizer = await loadTokenizer(TOKENIZER_DIR);
    // The "model" reads the window's score from its text length, and answers only when the test
    // lets it (a busy model): no timers, the order of events is the test's.
    const answers: Array<() => void> = [];
    const answerAll = async () => {
      for (let i = 0; i < 20; i++) {
        answers.shift()?.();
        await new Promise((r) => setImmediate(r));
      }
    };
    const runModel = async (inputs: ModelInput[]): Promise<ModelOutput[]> => {
      await new Promise<void>((r) => answers.push(r));
      return inputs.map((input) => {
        const tokens = input.attentionMask.reduce((a, b) => a + b, 0);
        const score = tokens === 3 ? 2 : -2; // "good" -> [CLS] good [SEP] = 3 tokens; longer text -> -2
        return { score, contributions: { text: score, audio: 0, video: 0 } };
      });
    };
    const windows$ = new Subject<SessionWindow>();
    const expired$ = new Subject<string>();
    const out = lastValueFrom(
      windows$.pipe(
        scoreWindows({
          tokenizer,
          maxTextTokens: 64,
          padIndex: { acoustic: 32, visual: 32 },
          runModel,
          modelVersion: 't',
          batching: { maxBatchSize: 1, maxQueueDelayMs: 0, maxInFlight: 1, maxQueued: 100 },
          rolling: { smoothing: { method: 'ema', alpha: 0.5 }, expired: expired$ },
        }),
        toArray(),
      ),
    );
    windows$.next(window('s', 1000, 'good'));
    windows$.next(window('s', 2000, 'not good at all'));
    expired$.next('s'); // announced while both windows wait for the model
    assert.equal(answers.length, 1, 'the first window is in the model, the second waits its turn');
    await answerAll();
    windows$.next(window('s', 9000, 'not good at all')); // the session came back: fresh state
    await answerAll();
    windows$.complete();
    const items = await out;
    // The expiry's 'ended' marker comes after the session's last score, before its next life.
    assert.deepEqual(
      items.map((i) => (i.kind === 'ended' ? `ended ${i.sessionId}` : `score ${i.score.windowEnd - T0}`)),
      ['score 1000', 'score 2000', 'ended s', 'score 9000'],
    );
    const scores = items.flatMap((i) => (i.kind === 'score' ? [i.score] : []));
    assert.deepEqual(
      scores.map((s) => s.windowScore),
      [2, -2, -2],
    );
    assert.equal(scores[0]!.score, 2);
    assert.equal(scores[1]!.score, 0, 'the last window before expiry is smoothed with the one before (0.5 x -2 + 0.5 x 2)');
    assert.equal(scores[2]!.score, -2, 'after the expiry took effect, the session starts from scratch');
  });
});

describe('scoreWindows: a window whose model input cannot be built', () => {
  it('goes to onFailed with the error; the stream and the other windows go on', async () => {
    const tokenizer = await loadTokenizer(TOKENIZER_DIR);
    const failed: Array<{ end: number; err: string }> = [];
    const out = lastValueFrom(
      from([window('s', 1000, 'good'), window('bad', 1000, 'good'), window('s', 2000, 'good')]).pipe(
        scoreWindows({
          tokenizer,
          maxTextTokens: 64,
          padIndex: { acoustic: 32, visual: 32 },
          // A codebook index out of range makes buildWindowInput throw, for session "bad" only.
          nonVerbal: (w) => (w.sessionId === 'bad' ? { acousticIds: [99], visualIds: [] } : undefined),
          runModel: async (inputs) => inputs.map(() => ({ score: 1, contributions: { text: 1, audio: 0, video: 0 } })),
          modelVersion: 't',
          batching: { maxBatchSize: 1, maxQueueDelayMs: 0, maxInFlight: 1, maxQueued: 100 },
          rolling: { smoothing: { method: 'ema', alpha: 0.5 } },
          onFailed: (w, err) => failed.push({ end: w.end - T0, err: (err as Error).message }),
        }),
        toArray(),
      ),
    );
    const items = await out;
    assert.deepEqual(
      items.flatMap((i) => (i.kind === 'score' ? [`${i.score.sessionId} ${i.score.windowEnd - T0}`] : [])),
      ['s 1000', 's 2000'],
    );
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.err, /acoustic codebook index 99 is outside 0\.\.31/);
  });
});
