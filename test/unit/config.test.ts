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

  it('features.faceWorkers / voiceWorkers: 1 / 0 by default, MSA_FACE_WORKERS / MSA_VOICE_WORKERS, bad values named', () => {
    assert.equal(loadConfig().features.faceWorkers, 1);
    assert.equal(loadConfig({ env: { MSA_FACE_WORKERS: '0' } }).features.faceWorkers, 0);
    assert.equal(loadConfig({ overrides: { features: { faceWorkers: 2 } } }).features.faceWorkers, 2);
    assert.equal(loadConfig().features.voiceWorkers, 0);
    assert.equal(loadConfig({ env: { MSA_VOICE_WORKERS: '2' } }).features.voiceWorkers, 2);
    for (const key of ['faceWorkers', 'voiceWorkers']) {
      for (const bad of [-1, 1.5, 17]) {
        assert.throws(
          () => loadConfig({ overrides: { features: { [key]: bad } } }),
          (e: unknown) => e instanceof ConfigError && e.message.includes(`features.${key}`) && e.message.includes(String(bad)),
          `${key} ${bad}`,
        );
      }
    }
  });

  it('features.faceMaxWaitMs: 200 by default, MSA_FACE_MAX_WAIT_MS, 0 allowed, bad values named', () => {
    assert.equal(loadConfig().features.faceMaxWaitMs, 200);
    assert.equal(loadConfig({ env: { MSA_FACE_MAX_WAIT_MS: '0' } }).features.faceMaxWaitMs, 0);
    assert.equal(loadConfig({ overrides: { features: { faceMaxWaitMs: 500 } } }).features.faceMaxWaitMs, 500);
    for (const bad of [-1, 2.5, 60_001]) {
      assert.throws(
        () => loadConfig({ overrides: { features: { faceMaxWaitMs: bad } } }),
        (e: unknown) => e instanceof ConfigError && e.message.includes('features.faceMaxWaitMs') && e.message.includes(String(bad)),
        String(bad),
      );
    }
  });

  it('model.workers / threadsPerWorker: defaults, MSA_MODEL_WORKERS / MSA_MODEL_THREADS, bad values named', () => {
    const d = loadConfig().model;
    assert.equal(d.workers, 2);
    assert.equal(d.threadsPerWorker, 1);
    assert.equal(d.perRow, false);
    assert.equal(d.dynamicInt8, true);
    const e = loadConfig({ env: { MSA_MODEL_WORKERS: '0', MSA_MODEL_THREADS: '1' } }).model;
    assert.equal(e.workers, 0);
    assert.equal(e.threadsPerWorker, 1);
    for (const [overrides, path, value] of [
      [{ model: { workers: -1 } }, 'model.workers', '-1'],
      [{ model: { workers: 1.5 } }, 'model.workers', '1.5'],
      [{ model: { workers: 33 } }, 'model.workers', '33'],
      [{ model: { threadsPerWorker: 65 } }, 'model.threadsPerWorker', '65'],
    ] as const) {
      assert.throws(
        () => loadConfig({ overrides }),
        (err: unknown) => err instanceof ConfigError && err.message.includes(path) && err.message.includes(value),
        `${path} = ${value} refused`,
      );
    }
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
        e instanceof ConfigError &&
        /^invalid configuration:\n {2}wat: unknown key \(known here: logLevel, cacheDir, broker, kafka/.test(e.message) &&
        !/"ws"/.test(e.message),
    );
  });

  it('ws.authTokens: a flat list sees all, objects carry session prefixes; from the config or MSA_WS_TOKENS (comma list or JSON); bad entries named, never echoed', () => {
    const flat = loadConfig({ env: { MSA_WS_TOKENS: 'first-token-1, second-token-2' } }).ws.authTokens;
    assert.deepEqual(flat, [
      { token: 'first-token-1', name: 'token-1', sessionPrefixes: '*' },
      { token: 'second-token-2', name: 'token-2', sessionPrefixes: '*' },
    ]);
    const json = loadConfig({
      env: { MSA_WS_TOKENS: '["ops-token-123",{"token":"acme-token-12","name":"acme","sessionPrefixes":["acme-"],"maxConnections":5}]' },
    });
    assert.deepEqual(json.ws.authTokens[1], { token: 'acme-token-12', name: 'acme', sessionPrefixes: ['acme-'], maxConnections: 5 });
    assert.equal(json.ws.maxConnectionsPerToken, 1000);
    assert.equal(json.ws.maxSubscribeAllPerToken, 100);
    assert.throws(() => loadConfig({ env: { MSA_WS_TOKENS: '[{"token":' } }), /MSA_WS_TOKENS starts with '\[' but is not valid JSON/);
    const bad = (authTokens: unknown[]) => () => loadConfig({ overrides: { ws: { authTokens } } });
    assert.throws(
      bad(['short']),
      (e: Error) => e instanceof ConfigError && /ws\.authTokens\.0\.token: String must contain at least 8/.test(e.message) && !e.message.includes('short'),
    );
    assert.throws(
      bad([{ token: 'tenant-token-1', sessionPrefixes: [''] }]),
      /ws\.authTokens\.0\.sessionPrefixes\.0: a prefix must not be empty \(use '\*' for every session\)/,
    );
    assert.throws(bad([{ token: 'tenant-token-1', sessionPrefixes: ['a-'], tenant: 'x' }]), /ws\.authTokens\.0\.tenant: unknown key/);
    assert.throws(
      bad(['same-token-123', { token: 'same-token-123', name: 'acme', sessionPrefixes: ['acme-'] }]),
      (e: Error) => /ws\.authTokens\.1\.token: the same token as ws\.authTokens\.0 \("token-1"\)/.test(e.message) && !e.message.includes('same-token-123'),
    );
  });
  it('broker.security, kafka.ssl and schemaRegistry: defaults, accepted shapes, bad values named and passwords never echoed', () => {
    const d = loadConfig();
    assert.deepEqual(d.broker.security, { protocol: 'plaintext', users: [], certDays: 825 });
    assert.equal(d.kafka.ssl, false);
    assert.equal(d.schemaRegistry.url, null);
    const ok = loadConfig({
      overrides: {
        broker: { security: { protocol: 'sasl_ssl', users: [{ username: 'app', password: 'app-secret-1' }] } },
        kafka: { ssl: { ca: '/tmp/ca.pem' } },
      },
      env: { MSA_SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081' },
    });
    assert.deepEqual(ok.kafka.ssl, { ca: '/tmp/ca.pem', rejectUnauthorized: true });
    assert.equal(ok.schemaRegistry.url, 'http://127.0.0.1:8081');
    const refused = (overrides: object, re: RegExp, secret?: string) =>
      assert.throws(
        () => loadConfig({ overrides }),
        (e: unknown) => e instanceof ConfigError && re.test(e.message) && (secret === undefined || !e.message.includes(secret)),
        JSON.stringify(overrides),
      );
    refused({ broker: { security: { protocol: 'sasl_ssl' } } }, /broker\.security\.users: sasl_ssl needs at least one SCRAM user/);
    refused({ broker: { security: { protocol: 'ssl' } } }, /broker\.security\.protocol/);
    refused({ broker: { security: { users: [{ username: 'a b', password: 'long-enough-1' }] } } }, /broker\.security\.users\.0\.username/);
    refused(
      { broker: { security: { users: [{ username: 'ab', password: 'has,comma-1' }] } } },
      /broker\.security\.users\.0\.password: must be 8-128/,
      'has,comma-1',
    );
    refused(
      {
        broker: {
          security: {
            users: [
              { username: 'ab', password: 'same-secret-1' },
              { username: 'ab', password: 'same-secret-1' },
            ],
          },
        },
      },
      /user names must be unique/,
      'same-secret-1',
    );
    refused({ kafka: { ssl: { cafile: 'x' } } }, /kafka\.ssl/);
    refused({ schemaRegistry: { url: 'ftp://x' } }, /schemaRegistry\.url: must be an http/);
  });

  it('kafka.ssl and kafka.sasl from MSA_KAFKA_SSL and MSA_KAFKA_SASL_* (a Kubernetes Secret); empty means unset; the password is never echoed', () => {
    const env = { MSA_KAFKA_SSL: 'true', MSA_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', MSA_KAFKA_SASL_USERNAME: 'msa', MSA_KAFKA_SASL_PASSWORD: ' s3cret pass ' };
    const k = loadConfig({ env }).kafka;
    assert.equal(k.ssl, true);
    assert.deepEqual(k.sasl, { mechanism: 'scram-sha-512', username: 'msa', password: ' s3cret pass ' });
    const empty = { MSA_KAFKA_SSL: '', MSA_KAFKA_SASL_MECHANISM: '', MSA_KAFKA_SASL_USERNAME: '', MSA_KAFKA_SASL_PASSWORD: '' };
    assert.equal(loadConfig({ env: empty }).kafka.ssl, false);
    assert.equal(loadConfig({ env: empty }).kafka.sasl, null);
    assert.equal(loadConfig({ env: { MSA_KAFKA_SSL: '0' }, overrides: {} }).kafka.ssl, false);
    assert.throws(() => loadConfig({ env: { MSA_KAFKA_SSL: 'maybe' } }), /MSA_KAFKA_SSL must be true or false, got "maybe"/);
    assert.throws(
      () => loadConfig({ env: { MSA_KAFKA_SASL_MECHANISM: 'gssapi', MSA_KAFKA_SASL_PASSWORD: 'hunter2-secret' } }),
      (e: Error) =>
        e instanceof ConfigError &&
        /kafka\.sasl\.mechanism: Invalid enum value/.test(e.message) &&
        /kafka\.sasl\.username: Required/.test(e.message) &&
        !e.message.includes('hunter2'),
    );
  });

  it('voice path: on by default, MSA_VOICE=off for words only, a bad value and a bad setting named', () => {
    assert.equal(loadConfig().voice.enabled, true);
    assert.equal(loadConfig().voice.reader, 'models/voice/reader.json');
    assert.equal(loadConfig({ env: { MSA_VOICE: 'off' } }).voice.enabled, false);
    assert.equal(loadConfig({ env: { MSA_VOICE: 'on', MSA_VOICE_READER: 'r.json' } }).voice.reader, 'r.json');
    assert.throws(() => loadConfig({ env: { MSA_VOICE: 'maybe' } }), /MSA_VOICE must be true or false, got "maybe"/);
    assert.throws(() => loadConfig({ overrides: { voice: { maxBatch: 0 } } }), /voice\.maxBatch/);
  });
});
