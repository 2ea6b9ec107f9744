/**
 * The per-session summary said when a session ends: counts, the last score, and for a session
 * that got no score, the reason in words (speech recognition off, no speech heard, left to another
 * transcript, a model that reads words only).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSessionLedger, formatSummary } from '../../src/scores/sessionLedger.js';
import type { Score } from '../../src/schemas/records.js';

const WORDS_ONLY = { text: true, audio: false, video: false };
const AUDIO = { text: false, audio: true, video: false };
const on = { on: true, leftToOther: false };

const score = (sessionId: string, value: number): Score => ({
  sessionId,
  windowStart: 0,
  windowEnd: 6000,
  score: value,
  windowScore: value,
  polarity: value > 0.5 ? 'POSITIVE' : value < -0.5 ? 'NEGATIVE' : 'NEUTRAL',
  confidence: 0.5,
  contributions: { text: value, audio: 0, video: 0 },
  modalities: { text: true, audio: true, video: false },
  modalitiesUsed: { text: true, audio: false, video: false },
  modelVersion: 'm@1',
  records: 3,
  latencyMs: 1,
  emittedAt: 0,
});

test('a scored session: counts, the last rolling score, machine words; no reason', () => {
  const ledger = createSessionLedger(WORDS_ONLY);
  ledger.window('s', { text: true, audio: true, video: false }, true);
  ledger.window('s', { text: true, audio: true, video: false }, true);
  ledger.scored(score('s', 0.2));
  ledger.scored(score('s', -1.4));
  const summary = ledger.end('s', on);
  assert.equal(summary.why, null);
  assert.deepEqual([summary.windows, summary.scores, summary.machineText, summary.last], [2, 2, 2, { score: -1.4, polarity: 'NEGATIVE' }]);
  assert.equal(formatSummary(summary), 's ended: 2 scores of 2 windows, last -1.40 NEGATIVE, words heard by msa in 2 windows');
  assert.equal(ledger.size, 0, 'forgotten once ended');
});

test('audio without words: the reason names what to change', () => {
  const ledger = createSessionLedger(WORDS_ONLY);
  for (const id of ['off', 'silent', 'other']) {
    ledger.window(id, AUDIO, false);
    ledger.unscored(id, 'no-usable-input');
  }
  assert.match(
    ledger.end('off', { on: false, leftToOther: false }).why!,
    /no transcript, and speech recognition is off \(asr\.mode off\); the model reads words only/,
  );
  assert.match(ledger.end('silent', on).why!, /no speech was heard in its audio/);
  assert.match(ledger.end('other', { on: true, leftToOther: true }).why!, /left to a transcript from elsewhere/);
  assert.match(formatSummary(ledger.end('never', on)), /^never ended: no score: none of its records reached a window/);
});

test('a model that reads voice: audio it could read but did not score names the unscored reasons', () => {
  const ledger = createSessionLedger({ text: true, audio: true, video: false });
  ledger.window('v', AUDIO, false);
  ledger.unscored('v', 'no-usable-input');
  assert.equal(ledger.end('v', on).why, 'its 1 windows were not scored (1 no-usable-input); the model reads words and voice');
});

test('bounded: beyond maxSessions the oldest is forgotten', () => {
  const ledger = createSessionLedger(WORDS_ONLY, 2);
  for (const id of ['a', 'b', 'c']) ledger.window(id, AUDIO, false);
  assert.equal(ledger.size, 2);
  assert.equal(ledger.end('a', on).windows, 0, 'a was forgotten');
});
