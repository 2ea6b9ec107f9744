import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';

describe('config', () => {
  it('features.faceDetector: short-range by default, full-range from MSA_FACE_DETECTOR or a flag, bad values named', () => {
    assert.equal(loadConfig().features.faceDetector, 'short-range');
    assert.equal(loadConfig({ env: { MSA_FACE_DETECTOR: 'full-range' } }).features.faceDetector, 'full-range');
    assert.equal(loadConfig({ env: { MSA_FACE_DETECTOR: 'full-range' }, overrides: { features: { faceDetector: 'short-range' } } }).features.faceDetector, 'short-range');
    assert.throws(() => loadConfig({ env: { MSA_FACE_DETECTOR: 'wide' } }), (e: unknown) => e instanceof ConfigError && /features\.faceDetector/.test(e.message) && /wide/.test(e.message));
  });
});
