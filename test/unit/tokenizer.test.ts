// @needs python (scripts/test.mjs prepares the training venv for this file)
/**
 * Parity of the TypeScript tokenizer with the Python one the model was trained with.
 *
 * test/fixtures/tokenizer-parity.json was generated once with the venv's transformers:
 *
 *   from transformers import AutoTokenizer
 *   tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
 *   for t in texts: enc = tok(t, truncation=True, max_length=64)
 *       cases.append({"text": t, "inputIds": enc["input_ids"], "attentionMask": enc["attention_mask"]})
 *
 * over 32 texts (casing, punctuation, numbers, accents, emoji, CJK, Cyrillic, Greek, control
 * and zero-width characters, literal special tokens, empty text, text truncated at 64).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { minilmPackageDir } from '../fixtures/env.js';

interface ParityCase {
  text: string;
  inputIds: number[];
  attentionMask: number[];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/tokenizer-parity.json', import.meta.url), 'utf8')) as { maxTokens: number; cases: ParityCase[] };

/** The project's copy once the model is exported, else the venv's copy of all-MiniLM-L6-v2. */
const folder = [path.resolve('models/tokenizer'), minilmPackageDir].find((dir) => existsSync(path.join(dir, 'tokenizer.json'))) ?? null;
const skip = folder === null ? 'no tokenizer folder (models/tokenizer or the venv copy of all-MiniLM-L6-v2)' : false;

test('encodes every fixture text exactly as the Python tokenizer does', { skip }, async () => {
  const tokenizer = await loadTokenizer(folder!);
  const { inputIds, attentionMask } = tokenizer.encode(
    fixture.cases.map((c) => c.text),
    fixture.maxTokens,
  );
  assert.equal(inputIds.length, fixture.cases.length);
  fixture.cases.forEach((c, i) => {
    assert.deepEqual(inputIds[i], c.inputIds, `ids of ${JSON.stringify(c.text.slice(0, 40))}`);
    assert.deepEqual(attentionMask[i], c.attentionMask, `mask of ${JSON.stringify(c.text.slice(0, 40))}`);
  });
});

test('truncates at maxTokens keeping [CLS] and [SEP]', { skip }, async () => {
  const tokenizer = await loadTokenizer(folder!);
  const long = fixture.cases.find((c) => c.inputIds.length === fixture.maxTokens)!;
  const { inputIds } = tokenizer.encode([long.text], 10);
  assert.deepEqual(inputIds[0], [...long.inputIds.slice(0, 9), long.inputIds.at(-1)]);
  assert.equal(tokenizer.countTokens(long.text) > fixture.maxTokens, true);
  assert.equal(tokenizer.countTokens('anyhow it was really good'), 8);
});

test('an empty batch gives empty rows; maxTokens below 2 is refused', { skip }, async () => {
  const tokenizer = await loadTokenizer(folder!);
  assert.deepEqual(tokenizer.encode([], 64), { inputIds: [], attentionMask: [] });
  assert.throws(() => tokenizer.encode(['a'], 1), /maxTokens must be an integer >= 2/);
});

test('a folder without tokenizer files is named in the error', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msa-tok-'));
  try {
    await assert.rejects(loadTokenizer(dir), (err: Error) => {
      assert.match(err.message, /tokenizer\.json cannot be read \(ENOENT\)/);
      assert.ok(err.message.includes(dir));
      return true;
    });
    await writeFile(path.join(dir, 'tokenizer.json'), '{not json');
    await writeFile(path.join(dir, 'tokenizer_config.json'), '{}');
    await assert.rejects(loadTokenizer(dir), /tokenizer\.json is not valid JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
