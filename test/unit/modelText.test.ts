/**
 * The words the text model reads from the recogniser (src/speech/modelText.ts), and `msa eval`
 * applying them to recognised rows (`--text-is-recognised`, `--asr-text`) on the small test graph.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { evaluateCsv, type EvaluateCsvOptions } from '../../src/eval/evaluate.js';
import { DEFAULT_MODEL_TEXT_CLEANUP, isRecognised, recognisedTextForModel } from '../../src/speech/modelText.js';
import { writeServedTestModel } from '../fixtures/servedModel.js';

const SAID = "Well, I\u2019m sure it's great... right? 5-year-old";

test('the cleanups', () => {
  assert.equal(recognisedTextForModel(SAID, 'raw'), SAID);
  assert.equal(recognisedTextForModel(SAID, 'mosi'), 'well im sure its great right 5 year old');
  assert.equal(recognisedTextForModel(SAID, 'nopunct'), "well i'm sure it's great right 5 year old");
  assert.equal(recognisedTextForModel(' ... ', 'mosi'), '');
  assert.equal(recognisedTextForModel(SAID), recognisedTextForModel(SAID, DEFAULT_MODEL_TEXT_CLEANUP));
});

test("only msa's recogniser is machine-made", () => {
  assert.equal(isRecognised('asr:whisper-tiny.en'), true);
  assert.equal(isRecognised(null), false);
  assert.equal(isRecognised('captioner'), false);
});

test('msa eval cleans recognised text as --asr-text says, and scores the cleaned text', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-modeltext-'));
  const graph = await writeServedTestModel();
  try {
    const rows = [
      ['a', SAID, '1.5'],
      ['b', "No, I don't think so... it's bad!", '-2'],
      ['c', 'Um, okay.', '0.2'],
    ];
    const write = async (name: string, text: (t: string) => string) => {
      const file = path.join(dir, name);
      await writeFile(file, ['id,text,label', ...rows.map(([id, t, l]) => `${id},"${text(t!)}",${l}`)].join('\n') + '\n');
      return file;
    };
    const heard = await write('heard.csv', (t) => t);
    const cleaned = await write('cleaned.csv', (t) => recognisedTextForModel(t, 'mosi'));
    const scores = async (csv: string, extra: Partial<EvaluateCsvOptions>) =>
      (await evaluateCsv({ csv, manifest: graph.manifest, intraOpThreads: 1, ...extra })).scored.map((r) => r.score);
    const viaCleanup = await scores(heard, { textIsRecognised: true, asrText: 'mosi' });
    assert.deepEqual(viaCleanup, await scores(cleaned, {}));
    assert.notDeepEqual(viaCleanup, await scores(heard, {}));
    assert.deepEqual(await scores(heard, { textIsRecognised: true, asrText: 'raw' }), await scores(heard, {}));
  } finally {
    await graph.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
