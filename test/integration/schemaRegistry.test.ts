// @needs kafka (the shared broker; the registry is started by the test, see test/fixtures/schemaRegistry.ts)
/**
 * NOTE: against a STAND-IN registry (test/fixtures/schemaRegistry.ts), not a real one: Karapace is
 * not on PyPI and Apicurio cannot be built from Maven Central here (the fixture says exactly why).
 *
 * The Schema Registry client against a server that speaks the Confluent REST API, and the
 * pipeline with `schemaRegistry.url` set: schemas registered under `<topic>-value` at start, the
 * registry's ids on the wire, an older writer schema registered by someone else read through the
 * registry, an id the registry does not know dead-lettered with its answer, an incompatible
 * schema refused naming the subject.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { openRecordSender } from '../../src/ingest/kafkaSender.js';
import { generateSession } from '../../src/ingest/sampleSession.js';
import { silentLogger } from '../../src/log.js';
import { defaultSchemaDir, loadSchemas } from '../../src/schemas/load.js';
import type { DeadLetter, Score } from '../../src/schemas/records.js';
import { createSchemaRegistryClient, SchemaRegistryError, type SchemaRegistryClient } from '../../src/transport/schemaRegistry/client.js';
import { registerTopicSchemas, valueSubject } from '../../src/transport/schemaRegistry/codec.js';
import { topicNames } from '../../src/transport/topics.js';
import { windowsWithWords } from '../fixtures/expectedWindows.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';
import { startSchemaRegistry, type RunningRegistry } from '../fixtures/schemaRegistry.js';

const W = 6000;
const H = 1000;
const T0 = 1_760_000_000_000;

let registry: RunningRegistry;
let client: SchemaRegistryClient;
let h: Harness | undefined;

before(async () => {
  registry = await startSchemaRegistry();
  client = createSchemaRegistryClient({ url: registry.url });
});

after(async () => {
  await h?.close().catch(() => undefined);
  await registry?.stop();
});

test('the client registers, looks up by id and checks compatibility (stand-in registry)', async () => {
  const subject = `client-${Date.now()}-value`;
  const schemas = loadSchemas(defaultSchemaDir());
  const id = await client.register(subject, schemas.score);
  assert.equal(await client.register(subject, schemas.score), id, 'registering the same schema again finds the same id');
  const back = await client.schemaById(id);
  assert.equal(avro.Type.forSchema(back).fingerprint('sha256').toString('hex'), avro.Type.forSchema(schemas.score).fingerprint('sha256').toString('hex'));

  // Adding a field with a default is backward compatible; a required one without a default is not.
  const withDefault = { ...(schemas.score as object), fields: [...(schemas.score as { fields: object[] }).fields, { name: 'extra', type: 'int', default: 0 }] };
  const withoutDefault = { ...(schemas.score as object), fields: [...(schemas.score as { fields: object[] }).fields, { name: 'extra', type: 'int' }] };
  assert.equal((await client.checkCompatibility(subject, withDefault as Schema)).compatible, true);
  assert.equal((await client.checkCompatibility(subject, withoutDefault as Schema)).compatible, false);
  assert.equal((await client.checkCompatibility(`never-${Date.now()}-value`, schemas.score)).compatible, true, 'a new subject is compatible');

  await assert.rejects(client.schemaById(2_000_000_000), (e: unknown) => e instanceof SchemaRegistryError && e.status === 404);
});

test('an incompatible schema is refused at start, naming the subject', async () => {
  const topics = topicNames({ prefix: `incompat-${Date.now()}.` });
  const schemas = loadSchemas(defaultSchemaDir());
  // Someone registered a Score without `polarity`, which this version requires (no default): it cannot read their records.
  const other = { ...(schemas.score as object), fields: (schemas.score as { fields: Array<{ name: string }> }).fields.filter((f) => f.name !== 'polarity') };
  await client.register(valueSubject(topics.scores), other as Schema);
  await assert.rejects(
    registerTopicSchemas(client, topics),
    new RegExp(`not compatible with the latest under subject ${valueSubject(topics.scores).replace(/\./g, '\\.')}`),
  );
});

test(
  'with schemaRegistry.url, the pipeline writes and reads the registry ids; an older writer is read through it; an unknown id is dead-lettered',
  { timeout: 180_000 },
  async () => {
    h = await startHarness({ windows: { sizeMs: W, hopMs: H, allowedLatenessMs: 500 }, schemaRegistry: { url: registry.url } });
    const topics = h.service.pipeline.topics;
    const ids = await registerTopicSchemas(client, topics);
    for (const [kind, id] of Object.entries(ids)) assert.equal(h.codec.schemaId(kind as keyof typeof ids), id, `${kind}: the registry's id is written`);

    // The replay sender (msa replay's) registers too and writes the same ids.
    const sender = await openRecordSender({ config: h.config, brokers: h.config.kafka.brokers!, logger: silentLogger });
    const records = generateSession({ sessionId: 'reg-a', startTime: T0, script: ['this is great news', 'I am not happy'], endOfStream: true, seed: 3 });
    const audio = records.filter((r) => r.kind === 'audio').map((r) => r.value);
    const video = records.filter((r) => r.kind === 'video').map((r) => r.value);
    const transcripts = records.filter((r) => r.kind === 'transcript').map((r) => r.value);
    await sender.send('audio', audio);
    await sender.send('video', video);

    // The transcript arrives in the older schema (v1, no `origin`), registered by its producer under the topic's subject.
    const v1 = JSON.parse(readFileSync(join(defaultSchemaDir(), 'versions', 'TranscriptSegment.v1.avsc'), 'utf8')) as Schema;
    const v1Id = await client.register(valueSubject(topics.transcript), v1);
    assert.ok(!Object.values(ids).includes(v1Id), 'the old version has an id of its own');
    const v1Type = avro.Type.forSchema(v1);
    const frame = (id: number, body: Buffer) => Buffer.concat([Buffer.from([0, (id >>> 24) & 255, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]), body]);
    for (const t of transcripts) {
      const { origin: _origin, ...old } = t as typeof t & { origin?: unknown };
      await h.produceRaw('transcript', t.sessionId, frame(v1Id, v1Type.toBuffer(old)));
    }
    // And one record naming an id the registry never gave.
    const bogus = await h.produceRaw('transcript', 'reg-bogus', frame(1_999_999_999, Buffer.from([0])));
    await sender.close();

    const expected = windowsWithWords(records, W, H);
    const total = [...expected.values()].reduce((n, s) => n + s.size, 0);
    const scores = await h.readTopic<Score>(topics.scores, 'score');
    const letters = await h.readTopic<DeadLetter>(topics.deadLetter, 'deadLetter');
    try {
      await waitFor(`${total} scores`, () => scores.items.length >= total, 120_000);
      assert.deepEqual(
        new Set(scores.items.map((s) => s.value.windowEnd)),
        expected.get('reg-a'),
        'every window with words scored: the v1 transcripts were read',
      );
      await waitFor('the dead letter of the unknown id', () => letters.items.length >= 1, 60_000);
      const dl = letters.items[0]!.value;
      assert.equal(dl.code, 'UNKNOWN_SCHEMA_ID');
      assert.equal(dl.offset, bogus.offset);
      assert.match(dl.reason, /schema id 1999999999 could not be fetched from the schema registry: .*HTTP 404/);
      assert.equal(await h.waitCommitted(60_000), 0, 'every input record committed');
    } finally {
      await scores.close();
      await letters.close();
    }
  },
);

test(
  'a registry outage is waited out: records with an id not yet fetched wait (not dead-lettered) and are read once it is back',
  { timeout: 180_000 },
  async () => {
    const harness = h!;
    const topics = harness.service.pipeline.topics;
    // A newer transcript version (an optional `note`), registered by its producer while the registry is up.
    const v1 = JSON.parse(readFileSync(join(defaultSchemaDir(), 'versions', 'TranscriptSegment.v1.avsc'), 'utf8')) as { fields: object[] };
    const v3 = { ...v1, fields: [...v1.fields, { name: 'note', type: ['null', 'string'], default: null }] } as Schema;
    const v3Id = await client.register(valueSubject(topics.transcript), v3);
    const v3Type = avro.Type.forSchema(v3);
    const frame = (id: number, body: Buffer) => Buffer.concat([Buffer.from([0, (id >>> 24) & 255, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]), body]);

    const letters = await harness.readTopic<DeadLetter>(topics.deadLetter, 'deadLetter');
    const scores = await harness.readTopic<Score>(topics.scores, 'score');
    try {
      await letters.caughtUp();
      const lettersBefore = letters.items.length;
      await registry.pause();
      const records = generateSession({ sessionId: 'reg-b', startTime: T0 + 60_000, script: ['what a wonderful day'], endOfStream: true, seed: 5 });
      // The transcripts first: every record read after one that waits waits behind it, in order. (Had
      // the audio been read first, its windows would not wait for words held up longer than
      // windows.modalityIdleMs: those would be late, as after a broker outage; README Left to do.)
      for (const r of records.filter((x) => x.kind === 'transcript')) {
        const { origin: _origin, ...old } = r.value as typeof r.value & { origin?: unknown };
        await harness.produceRaw('transcript', r.value.sessionId, frame(v3Id, v3Type.toBuffer({ ...old, note: 'from a newer producer' })));
      }
      await new Promise((r) => setTimeout(r, 3000));
      await harness.produce(records.filter((r) => r.kind !== 'transcript'));
      // Several retries' worth of outage (kafka.retry: 300 ms doubling to 5 s).
      await new Promise((r) => setTimeout(r, 8000));
      await letters.caughtUp();
      assert.equal(letters.items.length, lettersBefore, 'nothing was dead-lettered while the registry was away');
      assert.ok((await harness.uncommitted()) > 0, 'the waiting records are not committed');

      await registry.resume();
      const expected = windowsWithWords(records, W, H).get('reg-b')!;
      await waitFor(`${expected.size} scores of reg-b`, () => scores.items.filter((s) => s.value.sessionId === 'reg-b').length >= expected.size, 120_000);
      assert.deepEqual(new Set(scores.items.filter((s) => s.value.sessionId === 'reg-b').map((s) => s.value.windowEnd)), expected);
      assert.equal(await harness.waitCommitted(60_000), 0, 'every input record committed');
      await letters.caughtUp();
      assert.equal(letters.items.length, lettersBefore, 'and none dead-lettered after');
    } finally {
      await registry.resume().catch(() => undefined);
      await scores.close();
      await letters.close();
    }
  },
);
