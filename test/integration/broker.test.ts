/**
 * The project's own Kafka broker, for real: start, status, a topic round trip through kafkajs,
 * reuse, stop. Uses a scratch data dir and free ports, so it never touches a broker already
 * running on 9092; the jars come from the shared cache (MSA_CACHE_DIR, default ~/.cache/msa).
 * The first run ever downloads them with Maven (about 45 MB).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { brokerOptionsFromConfig, brokersFromEnvOrStart, brokerStatus, startBroker, stopBroker, type BrokerOptions } from '../../src/broker/index.js';
import { silentLogger } from '../../src/log.js';
import { loadConfig } from '../../src/config/config.js';
import { freePort } from '../fixtures/freePort.js';

let opts: Partial<BrokerOptions>;
let dataDir: string;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'msa-broker-test-'));
  const { cacheDir } = brokerOptionsFromConfig(loadConfig({ env: process.env }));
  opts = { cacheDir, dataDir, port: await freePort(), controllerPort: await freePort(), startTimeoutMs: 60_000 };
});

after(async () => {
  await stopBroker(opts, silentLogger).catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
});

test('an external cluster is used as given and nothing is started', async () => {
  const r = await brokersFromEnvOrStart({ ...opts, brokers: ['kafka.example:9092'] }, silentLogger);
  assert.deepEqual(r, { brokers: ['kafka.example:9092'], started: false, pid: null, version: null, dataDir: null, external: true });
  assert.equal((await brokerStatus(opts, { probe: false })).state, 'stopped');
});

test('start, round trip, reuse, stop', { timeout: 240_000 }, async (t) => {
  const started = await startBroker(opts, silentLogger);
  assert.equal(started.started, true);
  assert.deepEqual(started.brokers, [`127.0.0.1:${opts.port}`]);
  assert.ok(started.pid);

  await t.test('status says running and answering', async () => {
    const s = await brokerStatus(opts);
    assert.equal(s.state, 'running');
    assert.equal(s.pid, started.pid);
    assert.equal(s.port, opts.port);
    assert.equal(s.answering, true);
    assert.match(s.version, /^4\./);
  });

  await t.test('a kafkajs client creates a topic, produces and consumes one message', async () => {
    const kafka = new Kafka({ clientId: 'msa-broker-test', brokers: started.brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    assert.equal(await admin.createTopics({ topics: [{ topic: 'broker-test', numPartitions: 1 }], waitForLeaders: true }), true);
    await admin.disconnect();

    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: 'broker-test', messages: [{ key: 'k', value: 'hello kafka' }] });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: 'broker-test', sessionTimeout: 10_000, heartbeatInterval: 1000 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'broker-test', fromBeginning: true });
    const value = await new Promise<string>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => resolve(message.value?.toString() ?? '') });
    });
    await consumer.disconnect();
    assert.equal(value, 'hello kafka');
  });

  await t.test('a second start reuses the running broker', async () => {
    const again = await startBroker(opts, silentLogger);
    assert.equal(again.started, false);
    assert.equal(again.pid, started.pid);
  });

  await t.test('a fresh start is refused while it runs', async () => {
    await assert.rejects(startBroker(opts, silentLogger, { fresh: true }), /cannot start the broker of .* fresh: it runs \(pid \d+\); stop it first/);
  });

  await t.test('stop ends it and status says stopped', async () => {
    const stopped = await stopBroker(opts, silentLogger);
    assert.equal(stopped.wasRunning, true);
    assert.equal(stopped.how, 'terminated');
    const s = await brokerStatus(opts);
    assert.equal(s.state, 'stopped');
    assert.equal(s.pid, null);
    assert.equal((await stopBroker(opts, silentLogger)).wasRunning, false);
  });

  await t.test('a fresh start comes up empty: the topic of the last run is gone', async () => {
    const fresh = await startBroker(opts, silentLogger, { fresh: true });
    assert.equal(fresh.started, true);
    const admin = new Kafka({ clientId: 'msa-broker-test', brokers: fresh.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      assert.deepEqual(
        (await admin.listTopics()).filter((name) => !name.startsWith('__')),
        [],
      );
    } finally {
      await admin.disconnect();
      await stopBroker(opts, silentLogger);
    }
  });
});
