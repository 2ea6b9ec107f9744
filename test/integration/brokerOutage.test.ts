// @needs kafka (starts, stops and restarts its own broker on free ports; never the shared one)
/**
 * A broker outage of 60 s in the middle of a stream is ridden out: the project's own broker is
 * stopped while `msa replay`'s sender is sending and the pipeline is scoring, and started again a
 * minute later. Meanwhile /healthz says `degraded` with the reason; afterwards every window is
 * scored and no record went late, the sender got every record out, and the pipeline never
 * failed. Takes about 2 minutes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { brokerOptionsFromConfig, startBroker, stopBroker, type BrokerOptions } from '../../src/broker/index.js';
import { loadConfig } from '../../src/config/config.js';
import { openRecordSender, type OpenSender } from '../../src/ingest/kafkaSender.js';
import { replay } from '../../src/ingest/replay.js';
import { generateSession } from '../../src/ingest/sampleSession.js';
import { silentLogger } from '../../src/log.js';
import type { InputRecord, Score } from '../../src/schemas/records.js';
import { windowsWithWords } from '../fixtures/expectedWindows.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';
import { freePort } from '../fixtures/freePort.js';

const W = 6000;
const H = 1000;
const OUTAGE_MS = 60_000;

let broker: Partial<BrokerOptions>;
let dataDir: string;
let h: Harness | undefined;
let sender: OpenSender | undefined;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'msa-outage-test-'));
  const { cacheDir } = brokerOptionsFromConfig(loadConfig({ env: process.env }));
  broker = { cacheDir, dataDir, port: await freePort(), controllerPort: await freePort(), startTimeoutMs: 90_000, stopTimeoutMs: 30_000 };
});

after(async () => {
  await sender?.close().catch(() => undefined);
  await h?.close().catch(() => undefined);
  await stopBroker(broker, silentLogger).catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
});

test(
  'a 60 s broker outage mid-stream: /healthz says degraded, the sender and the pipeline wait it out, every window is scored, none late',
  { timeout: 300_000 },
  async () => {
    const { brokers } = await startBroker(broker, silentLogger);
    h = await startHarness({ windows: { sizeMs: W, hopMs: H, allowedLatenessMs: 500 } }, { brokers });
    const harness = h;
    let failed: unknown = null;
    harness.service.done.catch((err: unknown) => (failed = err));
    const scores = await harness.readTopic<Score>(harness.service.pipeline.topics.scores, 'score');

    // Four live sessions of ~26 s each, paced in real time by the replay sender (msa replay's).
    const now = Date.now();
    const records: InputRecord[] = [1, 2, 3, 4].flatMap((i) =>
      generateSession({ sessionId: `outage-${i}`, startTime: now + i * 500, videoFps: 2, endOfStream: true, seed: i }),
    );
    const expected = windowsWithWords(records, W, H);
    const total = [...expected.values()].reduce((n, s) => n + s.size, 0);
    sender = await openRecordSender({ config: harness.config, brokers, logger: silentLogger });
    let sent = 0;
    // Their own times (startTime null): the expected windows are computed from them.
    const replaying = replay(records, sender, { speed: 1, startTime: null, onProgress: (n) => (sent = n) });

    // Stop the broker once some scores are out and much of the stream is still to come.
    await waitFor('the first scores', () => scores.items.length >= 8, 60_000);
    const sentBefore = sent;
    assert.ok(sentBefore < records.length / 2, `the outage starts mid-stream (sent ${sentBefore} of ${records.length})`);
    await stopBroker(broker, silentLogger);
    const stoppedAt = Date.now();

    const health = async () =>
      (await fetch(`http://127.0.0.1:${harness.service.http.port}/healthz`)).json() as Promise<{ status: string; kafka?: Array<{ reason: string }> }>;
    let degraded: Awaited<ReturnType<typeof health>> | null = null;
    while (Date.now() - stoppedAt < OUTAGE_MS) {
      const seen = await health();
      if (seen.status === 'degraded') degraded ??= seen;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(degraded, '/healthz said degraded while the broker was away');
    assert.ok((degraded.kafka ?? []).length > 0 && degraded.kafka!.every((p) => p.reason.length > 0), `with the reasons: ${JSON.stringify(degraded)}`);
    assert.equal(failed, null, 'the pipeline did not fail during the outage');

    await startBroker(broker, silentLogger);
    assert.equal(await replaying, records.length, 'the sender got every record out');
    assert.equal(await harness.waitCommitted(60_000), 0, 'every input record committed');
    assert.equal((await health()).status, 'ok', '/healthz ok again once the broker is back');
    assert.equal(failed, null, 'the pipeline never failed');
    await scores.caughtUp();

    // After the outage the consumer rejoins its group and hands over the backlog topic by topic;
    // the windows' clock stood still meanwhile, so no modality counts as idle and none of the
    // backlog goes late (before the fix: 61 of 124 windows scored, 406 records late).
    const seen = new Set(scores.items.map((s) => `${s.value.sessionId}@${s.value.windowEnd}`)).size;
    const st = harness.service.pipeline.stats();
    assert.equal(st.windows.late, 0, `no record went late (${st.windows.late} did)`);
    assert.equal(seen, total, `saw ${seen} of ${total} windows`);
    for (const [sessionId, ends] of expected) {
      const got = new Set(scores.items.filter((s) => s.value.sessionId === sessionId).map((s) => s.value.windowEnd));
      assert.deepEqual(got, ends, `${sessionId}: every window with words scored`);
    }
    await scores.close();
  },
);
