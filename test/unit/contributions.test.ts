// The truth of contributions, on the shipped model (models/manifest.multimodal.json): a modality
// the model did not read contributes exactly 0, wherever a score is shown (live windows through
// buildWindowInput, `msa eval` rows through scoreRows), and modalitiesUsed says what was read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadServedModel } from '../../src/model/servedModel.js';
import { buildWindowInput } from '../../src/model/windowInputs.js';
import { scoreRows } from '../../src/eval/evaluate.js';
import { silentLogger } from '../../src/log.js';
import type { SessionWindow } from '../../src/windows/types.js';
import type { TranscriptSegment } from '../../src/schemas/records.js';
import { REPO_ROOT } from '../fixtures/servedModel.js';
import { transcriptSegment } from '../fixtures/records.js';

const T0 = 1_700_000_000_000;

function window(text: string): SessionWindow {
  const transcript: TranscriptSegment[] = text ? [transcriptSegment({ sessionId: 's1', segmentId: 'a', eventTime: T0 + 1000, endTime: T0 + 3000, text })] : [];
  return { sessionId: 's1', start: T0, end: T0 + 5000, audio: [], video: [], transcript, positions: [], closedAt: T0 + 5500 };
}

test('a window without words: modalitiesUsed.text is false and contributions.text is exactly 0; the rest sum to the score', async () => {
  const model = await loadServedModel({
    manifest: join(REPO_ROOT, 'models', 'manifest.multimodal.json'),
    executionProvider: 'cpu',
    intraOpThreads: 1,
    logger: silentLogger,
  });
  try {
    const { padIndex, maxTextTokens } = model.manifest;
    const nonVerbal = { acousticIds: [3, 7, 7, 12, 30, 1], visualIds: [2, 5, 5] };
    const opts = { tokenizer: model.tokenizer, maxTextTokens, padIndex, nonVerbal };
    const silent = buildWindowInput(window(''), opts);
    const spoken = buildWindowInput(window('this is really wonderful'), opts);
    assert.deepEqual(silent.used, { text: false, audio: true, video: true });
    assert.deepEqual(spoken.used, { text: true, audio: true, video: true });
    const [a, b] = await model.session.run([silent.input, spoken.input]);
    assert.ok(a && b);
    assert.equal(a.contributions.text, 0, `no words, text contribution ${a.contributions.text}`);
    assert.ok(Math.abs(a.contributions.audio + a.contributions.video - a.score) < 1e-5, JSON.stringify(a));
    assert.ok(Math.abs(b.contributions.text) > 1e-3, `words read: text contribution ${b.contributions.text}`);

    // msa eval: a row with empty text is scored the same way (text absent), whatever else it has.
    const rows = [
      { id: 'silent', text: '', label: 0, line: 2 },
      { id: 'spoken', text: 'this is really wonderful', label: 0, line: 3 },
    ];
    const scored = await scoreRows(rows, { tokenizer: model.tokenizer, session: model.session, maxTextTokens, padIndex, nonVerbal: [nonVerbal, nonVerbal] });
    assert.ok(Math.abs(scored[0]!.score - a.score) < 1e-5, `eval ${scored[0]!.score} vs live ${a.score}`);
    assert.ok(Math.abs(scored[1]!.score - b.score) < 1e-5, `eval ${scored[1]!.score} vs live ${b.score}`);
  } finally {
    await model.session.release();
  }
});
