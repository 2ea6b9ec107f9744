/**
 * Alerts over the event time a session actually covers: its records -> windows (flushed at end
 * of stream) -> scores (a model that is negative on every window) -> alert rules, wired as the
 * service wires them (`alerts.update(score, now, reached)`). The windows flushed when a session
 * ends run up to W (6 s) past its last record; a rule for 10 s must not fire on a 7.5 s clip.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filter, from, lastValueFrom, map, toArray } from 'rxjs';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import type { ModelInput, ModelOutput } from '../../src/model/types.js';
import { scoreWindows, type ScoredWindow } from '../../src/pipeline/scoring.js';
import type { InputRecord } from '../../src/schemas/records.js';
import { createAlertEvaluator, type Alert } from '../../src/scores/alerts.js';
import { sessionWindows } from '../../src/windows/sessionWindows.js';
import type { Positioned, WindowEvent } from '../../src/windows/types.js';
import { TOKENIZER_DIR } from '../fixtures/servedModel.js';
import { transcriptSegment } from '../fixtures/records.js';

const T0 = 1_760_000_000_000;

/** Steady negative speech: one transcript segment every 500 ms up to `spanMs`, the last with endOfStream. */
function negativeSession(sessionId: string, spanMs: number): Positioned<InputRecord>[] {
  const records: Positioned<InputRecord>[] = [];
  for (let t = 0; t < spanMs; t += 500) {
    const eventTime = T0 + t;
    const endTime = eventTime + 500;
    records.push({
      value: {
        kind: 'transcript',
        value: transcriptSegment({
          sessionId,
          segmentId: `${sessionId}-${t}`,
          eventTime,
          endTime,
          text: 'this is awful',
          language: null,
          endOfStream: endTime >= T0 + spanMs,
        }),
      },
    });
  }
  return records;
}

async function alertsFor(sessionId: string, spanMs: number): Promise<{ alerts: Alert[]; scored: ScoredWindow[] }> {
  const tokenizer = await loadTokenizer(TOKENIZER_DIR);
  const runModel = async (inputs: ModelInput[]): Promise<ModelOutput[]> => inputs.map(() => ({ score: -2, contributions: { text: -2, audio: 0, video: 0 } }));
  const scored = await lastValueFrom(
    from(negativeSession(sessionId, spanMs)).pipe(
      sessionWindows({ sizeMs: 6000, hopMs: 1000, allowedLatenessMs: 0, modalityIdleMs: 0 }),
      filter((e): e is Extract<WindowEvent, { type: 'window' }> => e.type === 'window'),
      map((e) => e.window),
      scoreWindows({
        tokenizer,
        maxTextTokens: 64,
        padIndex: { acoustic: 32, visual: 32 },
        runModel,
        modelVersion: 't',
        batching: { maxBatchSize: 4, maxQueueDelayMs: 0, maxInFlight: 1, maxQueued: 100 },
        rolling: { smoothing: { method: 'ema', alpha: 1 }, neutralBand: 0.5 },
      }),
      filter((o): o is ScoredWindow => o.kind === 'score'),
      toArray(),
    ),
  );
  const evaluator = createAlertEvaluator({ rules: [{ name: 'sustained-negative', when: 'below', threshold: -1, forMs: 10_000 }] });
  const alerts = scored.flatMap((s) => evaluator.update(s.score, 0, s.reached));
  return { alerts, scored };
}

describe('alerts over a session flushed at end of stream', () => {
  it('a 7.5 s clip of steady negative speech does not fire a 10 s rule, although its last window ends 13 s after its first', async () => {
    const { alerts, scored } = await alertsFor('short', 7500);
    const ends = scored.map((s) => s.score.windowEnd - T0);
    assert.equal(ends[0], 1000);
    assert.equal(ends.at(-1), 13_000, 'the flushed windows run to 13 s: window ends alone would say 12 s below');
    assert.equal(Math.max(...scored.map((s) => s.reached - T0)), 7500, 'what the records reach');
    assert.ok(scored.every((s) => s.reached <= s.score.windowEnd));
    assert.deepEqual(alerts, []);
  });

  it('a 12 s clip does fire it, 10 s after the first score', async () => {
    const { alerts } = await alertsFor('long', 12_000);
    assert.deepEqual(
      alerts.map((a) => [a.state, a.since - T0, a.at - T0]),
      [['firing', 1000, 11_000]],
    );
  });
});
