import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';

describe('config', () => {
  it('features.faceDetector: short-range by default, full-range from MSA_FACE_DETECTOR or a flag, bad values named', () => {
    assert.equal(loadConfig().features.faceDetector, 'short-range');
    assert.equal(loadConfig({ env: { MSA_FACE_DETECTOR: 'full-range' } }).features.faceDetector, 'full-range');
    assert.equal(
      loadConfig({ env: { MSA_FACE_DETECTOR: 'full-range' }, overrides: { features: { faceDetector: 'short-range' } } }).features.faceDetector,
      'short-range',
    );
    assert.throws(
      () => loadConfig({ env: { MSA_FACE_DETECTOR: 'wide' } }),
      (e: unknown) => e instanceof ConfigError && /features\.faceDetector/.test(e.message) && /wide/.test(e.message),
    );
  });

  it('refuses misspelled keys at any depth, naming the path and the nearest known key', () => {
    const refused = (overrides: object, re: RegExp) =>
      assert.throws(
        () => loadConfig({ overrides }),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
        JSON.stringify(overrides),
      );
    refused({ kafka: { broker: ['x:9092'] } }, /kafka\.broker: unknown key; did you mean kafka\.brokers\?/);
    refused({ ws: { prot: 8081 } }, /ws\.prot: unknown key; did you mean ws\.port\?/);
    refused({ windows: { sizems: 6000 } }, /windows\.sizems: unknown key; did you mean windows\.sizeMs\?/);
    refused({ model: { manfest: 'm.json' } }, /model\.manfest: unknown key; did you mean model\.manifest\?/);
    refused({ scores: { smoothing: { method: 'ema', alpha: 0.3, beta: 1 } } }, /scores\.smoothing\.beta: unknown key/);
  });

  it('a root key error names only that key, not sections the user never wrote', () => {
    assert.throws(
      () => loadConfig({ overrides: { wat: 1 }, env: { MSA_WS_PORT: '8081' } }),
      (e: unknown) =>
        e instanceof ConfigError && /^invalid configuration:\n {2}wat: unknown key \(known here: logLevel, kafka/.test(e.message) && !/"ws"/.test(e.message),
    );
  });
});
