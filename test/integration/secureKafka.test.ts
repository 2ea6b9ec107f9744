// @needs kafka (starts and stops its own SASL_SSL broker on ports 19500-19599; never the shared one)
/**
 * Secured Kafka for real: the project's own broker started with `broker.security.protocol =
 * "sasl_ssl"` (a generated self-signed CA, SCRAM users written at format time), and the whole
 * pipeline run against it with `kafka.ssl = { ca }` and `kafka.sasl` SCRAM: every window with words
 * is scored and every record committed. A wrong password and a client that does not trust the CA
 * are refused at once with errors naming the mechanism and user (or the CA), not retried.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { brokerOptionsFromConfig, startBroker, stopBroker, type BrokerOptions } from '../../src/broker/index.js';
import { portIsFree } from '../../src/broker/readiness.js';
import { loadConfig } from '../../src/config/config.js';
import { generateSession } from '../../src/ingest/sampleSession.js';
import { silentLogger } from '../../src/log.js';
import type { Score } from '../../src/schemas/records.js';
import { connectRecordProducer } from '../../src/transport/kafka/index.js';
import { createTransportHealth } from '../../src/transport/health.js';
import { windowsWithWords } from '../fixtures/expectedWindows.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';

const W = 6000;
const H = 1000;
const T0 = 1_760_000_000_000;
const USER = { username: 'msa-app', password: 'app-secret-123' };

let broker: Partial<BrokerOptions>;
let brokers: string[];
let caFile: string;
let dataDir: string;
let h: Harness | undefined;

/** Two free ports of this test's range (19500-19599), so it never collides with the shared broker. */
async function twoPorts(): Promise<[number, number]> {
  const free: number[] = [];
  for (let p = 19500 + Math.floor(Math.random() * 50); p < 19600 && free.length < 2; p++) if (await portIsFree('127.0.0.1', p)) free.push(p);
  if (free.length < 2) throw new Error('no two free ports in 19500-19599');
  return [free[0]!, free[1]!];
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'msa-secure-test-'));
  const { cacheDir } = brokerOptionsFromConfig(loadConfig({ env: process.env }));
  const [port, controllerPort] = await twoPorts();
  broker = { cacheDir, dataDir, port, controllerPort, heapMb: 384, security: { protocol: 'sasl_ssl', users: [USER], certDays: 2 } };
  const started = await startBroker(broker, silentLogger);
  brokers = started.brokers;
  caFile = started.caFile!;
});

after(async () => {
  await h?.close().catch(() => undefined);
  await stopBroker(broker, silentLogger).catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
});

const kafkaSettings = (sasl: object, ssl: unknown = { ca: caFile }) => ({ brokers, ssl, sasl, topicPrefix: 'secure.' });

test('the broker generated a CA and listens with SASL_SSL only', () => {
  assert.match(readFileSync(caFile, 'utf8'), /-----BEGIN CERTIFICATE-----/);
  const props = readFileSync(join(dataDir, 'server.properties'), 'utf8');
  assert.match(props, /^listeners=SASL_SSL:\/\/127\.0\.0\.1:\d+,CONTROLLER:/m);
  assert.match(props, /^ssl\.keystore\.type=PEM$/m);
});

test('a pipeline over SASL_SSL with SCRAM-SHA-512: every window with words is scored, every record committed', { timeout: 240_000 }, async () => {
  h = await startHarness(
    { windows: { sizeMs: W, hopMs: H, allowedLatenessMs: 500 }, kafka: { ssl: { ca: caFile }, sasl: { mechanism: 'scram-sha-512', ...USER } } },
    { brokers },
  );
  const records = ['tls-a', 'tls-b'].flatMap((sessionId, i) =>
    generateSession({ sessionId, startTime: T0 + i * 1300, script: ['this is great news', 'I am not happy'], endOfStream: true, seed: i + 7 }),
  );
  records.sort((a, b) => a.value.eventTime - b.value.eventTime);
  await h.produce(records);
  const expected = windowsWithWords(records, W, H);
  const total = [...expected.values()].reduce((n, s) => n + s.size, 0);
  const scores = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  try {
    await waitFor(`${total} scores`, () => scores.items.length >= total, 120_000);
    assert.equal(await h.waitCommitted(60_000), 0, 'every input record committed');
    for (const [sessionId, ends] of expected) {
      const got = new Set(scores.items.filter((s) => s.value.sessionId === sessionId).map((s) => s.value.windowEnd));
      assert.deepEqual(got, ends, `${sessionId}: every window with words scored`);
    }
  } finally {
    await scores.close();
  }
});

test('SCRAM-SHA-256 works too; a wrong password is refused at once, naming the mechanism and user, not retried', { timeout: 60_000 }, async () => {
  const connect = (sasl: object, ssl?: unknown) => {
    const config = loadConfig({ overrides: { logLevel: 'silent', kafka: kafkaSettings(sasl, ssl) } });
    const health = createTransportHealth();
    return { health, producer: connectRecordProducer({ brokers, kafka: config.kafka, limits: config.limits, health, clientSuffix: '-secure-test' }) };
  };
  const ok = connect({ mechanism: 'scram-sha-256', ...USER });
  await (await ok.producer).close();

  const wrong = connect({ mechanism: 'scram-sha-256', username: USER.username, password: 'not-the-password' });
  await assert.rejects(wrong.producer, (err: Error) => {
    assert.match(err.message, /refused the login: SASL SCRAM-SHA-256 as user "msa-app" failed/);
    assert.doesNotMatch(err.message, /not-the-password/, 'the password is never shown');
    return true;
  });
  assert.deepEqual(wrong.health.problems(), [], 'no retry was reported: an auth error ends the connect at once');

  const unknownUser = connect({ mechanism: 'scram-sha-512', username: 'nobody', password: 'whatever-123' });
  await assert.rejects(unknownUser.producer, /SASL SCRAM-SHA-512 as user "nobody" failed/);

  const untrusted = connect({ mechanism: 'scram-sha-512', ...USER }, true);
  await assert.rejects(untrusted.producer, /TLS to Kafka at .* failed: the broker's certificate is not trusted by the system CAs/);
});

test('the data dir keeps its security mode and users: a plaintext start or another user list is refused, naming both', async () => {
  await assert.rejects(
    startBroker({ ...broker, security: { protocol: 'plaintext', users: [], certDays: 2 } }, silentLogger),
    /formatted with broker\.security\.protocol sasl_ssl and SCRAM users \[msa-app\], not plaintext/,
  );
  await assert.rejects(
    startBroker({ ...broker, security: { protocol: 'sasl_ssl', users: [USER, { username: 'bob', password: 'bob-secret-1' }], certDays: 2 } }, silentLogger),
    /SCRAM users \[msa-app\], not sasl_ssl with \[bob,msa-app\]/,
  );
});
