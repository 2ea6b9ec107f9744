// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * A pipeline stopped in the middle of its sessions (open windows not flushed, as on SIGTERM), or a
 * child `msa run` killed with SIGKILL mid-transaction, and started again in the same consumer
 * group, or 1 -> 3 -> 1 instances in the middle of the sessions: the windows left open are
 * scored afterwards from ALL their records, with the same score and record count as a run that
 * was never interrupted, and no window is seen twice by a
 * read_committed reader (transactions, and the restored changelog state; see README "Delivery and
 * faults").
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokers, repoRoot } from '../fixtures/env.js';
import { writeServedTestModel } from '../fixtures/servedModel.js';
import { waitForGroup } from '../fixtures/coSessions.js';
import { startService, type Service } from '../../src/pipeline/service.js';
import { silentLogger } from '../../src/log.js';
import { generateSession } from '../../src/ingest/sampleSession.js';
import type { InputRecord, Score } from '../../src/schemas/records.js';
import { windowsWithWords } from '../fixtures/expectedWindows.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';

const W = 6000;
const H = 1000;
const T0 = 1_760_000_000_000;
const windows = { sizeMs: W, hopMs: H, allowedLatenessMs: 2000 };

const harnesses: Harness[] = [];
const children: ChildProcess[] = [];
let reference: Map<string, Score> | null = null;
let records: InputRecord[] = [];
const sessions = ['restart-a', 'restart-b', 'restart-c', 'restart-d'];

before(() => {
  records = sessions.flatMap((sessionId, i) => generateSession({ sessionId, startTime: T0 + i * 700, endOfStream: true, seed: i + 7 }));
  records.sort((a, b) => a.value.eventTime - b.value.eventTime);
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const h of harnesses) await h.close().catch(() => undefined);
});

const keyOf = (s: Score) => `${s.sessionId}@${s.windowEnd}`;

async function allScores(h: Harness, total: number): Promise<Score[]> {
  const reader = await h.readTopic<Score>(h.service.pipeline.topics.scores, 'score');
  try {
    await waitFor(`${total} scores`, () => reader.items.length >= total, 90_000);
    assert.equal(await h.waitCommitted(60_000), 0, 'every input record committed');
    await reader.caughtUp();
    return reader.items.map((i) => i.value);
  } finally {
    await reader.close();
  }
}

/** Waits until the count stops moving for `quietMs`. */
async function settle(count: () => number, quietMs = 1500): Promise<void> {
  let last = -1;
  let since = Date.now();
  await waitFor(
    'the pipeline to settle',
    () => {
      const n = count();
      if (n !== last) {
        last = n;
        since = Date.now();
      }
      return Date.now() - since >= quietMs;
    },
    60_000,
  );
}

/** The scores of one uninterrupted run (computed once). */
async function uninterrupted(total: number): Promise<Map<string, Score>> {
  if (reference) return reference;
  const h = await startHarness({ windows });
  harnesses.push(h);
  await h.produce(records);
  reference = new Map((await allScores(h, total)).map((s) => [keyOf(s), s]));
  assert.equal(reference.size, total);
  return reference;
}

/** Every window once, with the records and scores of the uninterrupted run. */
function assertSameAsUninterrupted(got: Score[], want: Map<string, Score>): void {
  const byKey = new Map<string, Score[]>();
  for (const s of got) byKey.set(keyOf(s), [...(byKey.get(keyOf(s)) ?? []), s]);
  assert.deepEqual(new Set(byKey.keys()), new Set(want.keys()), 'the same windows scored');
  const twice = [...byKey.entries()].filter(([, list]) => list.length > 1).map(([k]) => k);
  assert.deepEqual(twice, [], 'no window seen twice');
  for (const [k, [s]] of byKey) {
    const w = want.get(k)!;
    assert.equal(s!.records, w.records, `${k}: same record count`);
    assert.equal(s!.windowScore, w.windowScore, `${k}: same window score`);
    assert.equal(s!.score, w.score, `${k}: same rolling score`);
  }
}

test('stopped mid-session and restarted: every window scored once, from all its records, as in an uninterrupted run', { timeout: 300_000 }, async () => {
  const expected = windowsWithWords(records, W, H);
  const total = [...expected.values()].reduce((n, s) => n + s.size, 0);
  const want = await uninterrupted(total);

  // The interrupted run: half the stream, stop (open windows are not flushed), the rest, restart.
  const prefix = `it-restart-${randomUUID().slice(0, 8)}.`;
  const kafka = { topicPrefix: prefix, groupId: `${prefix}group` };
  const first = await startHarness({ windows, kafka });
  harnesses.push(first);
  const cut = T0 + 12_000;
  await first.produce(records.filter((r) => r.value.eventTime < cut));
  await settle(() => first.service.pipeline.stats().scores);
  const scoredBefore = first.service.pipeline.stats().scores;
  assert.ok(scoredBefore > 0 && scoredBefore < total, `some windows scored before the stop (${scoredBefore} of ${total})`);
  assert.ok(first.service.pipeline.stats().pending > 0, 'open windows hold records at the stop');
  await first.service.stop();

  const second = await startHarness({ windows, kafka });
  harnesses.push(second);
  await second.produce(records.filter((r) => r.value.eventTime >= cut));
  assertSameAsUninterrupted(await allScores(second, total), want);
});

test(
  'a child msa run killed with SIGKILL mid-stream and restarted: every window seen once by read_committed, as in an uninterrupted run',
  { timeout: 300_000 },
  async () => {
    const expected = windowsWithWords(records, W, H);
    const total = [...expected.values()].reduce((n, s) => n + s.size, 0);
    const want = await uninterrupted(total);

    const prefix = `it-kill-${randomUUID().slice(0, 8)}.`;
    const dir = mkdtempSync(join(tmpdir(), 'msa-kill-'));
    const model = await writeServedTestModel();
    try {
      // The child runs the harness's settings, so its scores are comparable.
      const configFile = join(dir, 'config.json');
      writeFileSync(configFile, JSON.stringify({ windows, batching: { maxBatchSize: 8, maxQueueDelayMs: 5 }, asr: { mode: 'off' }, logLevel: 'info' }));
      const env = {
        ...process.env,
        KAFKA_BROKERS: brokers.join(','),
        MSA_TOPIC_PREFIX: prefix,
        MSA_GROUP_ID: `${prefix}group`,
        MSA_MODEL: model.manifest,
        MSA_TRANSACTIONAL_ID: `${prefix}instance-0`,
      };
      const log = openSync(join(dir, 'msa-run.log'), 'a');
      const start = () => {
        const script = "const { main } = await import('./src/cli/main.ts'); await main(['node', 'msa', ...process.argv.slice(1)]);";
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, '--', '--config', configFile, 'run', '--ws-port', '0'], {
          cwd: repoRoot,
          env,
          stdio: ['ignore', log, log],
        });
        children.push(child);
        return child;
      };
      // The reader and the input producer work on the child's topics (a harness in its own group).
      const outside = await startHarness({ windows, kafka: { topicPrefix: prefix, groupId: `${prefix}other` } });
      harnesses.push(outside);
      await outside.service.stop(); // only its producer and readers are used
      const reader = await outside.readTopic<Score>(outside.service.pipeline.topics.scores, 'score');
      try {
        let child = start();
        const cut = T0 + 12_000;
        await outside.produce(records.filter((r) => r.value.eventTime < cut));
        await waitFor('the first scores from the child', () => reader.items.length >= 5, 120_000).catch((err: unknown) => {
          throw new Error(`${String(err)}; msa run's log ends: ${readFileSync(join(dir, 'msa-run.log'), 'utf8').slice(-2000)}`);
        });
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
        child = start();
        await outside.produce(records.filter((r) => r.value.eventTime >= cut));
        await waitFor(`${total} windows seen`, () => new Set(reader.items.map((i) => keyOf(i.value))).size >= total, 120_000);
        // Everything committed (no window left to score again), and the reader has all of the topic.
        const committed = async () => {
          const admin = outside.kafka.admin();
          await admin.connect();
          try {
            let behind = 0;
            for (const kind of ['audio', 'video', 'transcript'] as const) {
              const topic = outside.service.pipeline.topics[kind];
              const ends = await admin.fetchTopicOffsets(topic);
              const [c] = await admin.fetchOffsets({ groupId: `${prefix}group`, topics: [topic] });
              for (const p of ends) {
                const at = c?.partitions.find((x) => x.partition === p.partition)?.offset ?? '-1';
                behind += Number(p.high) - (at === '-1' ? 0 : Number(at));
              }
            }
            return behind;
          } finally {
            await admin.disconnect();
          }
        };
        let behind = await committed();
        for (let i = 0; i < 300 && behind > 0; i++) {
          await new Promise((r) => setTimeout(r, 200));
          behind = await committed();
        }
        assert.equal(behind, 0, 'every input record committed by the restarted child');
        await reader.caughtUp();
        assertSameAsUninterrupted(
          reader.items.map((i) => i.value),
          want,
        );
      } finally {
        await reader.close();
      }
    } finally {
      await model.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

// A new owner reads its backlog topic by topic: a session's modality it has not seen yet holds the
// session's watermark while its partition is behind (src/windows/sessionWindowing.ts), so one
// modality cannot close windows whose records of another are still in Kafka. Without that, some
// runs scored a window from 72 of its 74 records; without the restored state, every run fails.
test('1 -> 3 -> 1 instances mid-session: every window seen once by read_committed, as in an uninterrupted run', { timeout: 300_000 }, async () => {
  const expected = windowsWithWords(records, W, H);
  const total = [...expected.values()].reduce((n, s) => n + s.size, 0);
  const want = await uninterrupted(total);

  const prefix = `it-rebalance-${randomUUID().slice(0, 8)}.`;
  const h = await startHarness({ windows, kafka: { topicPrefix: prefix, groupId: `${prefix}group` } });
  harnesses.push(h);
  const admin = h.kafka.admin();
  await admin.connect();
  const extra: Service[] = [];
  try {
    const scored = () => [h.service, ...extra].reduce((n, s) => n + s.pipeline.stats().scores, 0);
    await h.produce(records.filter((r) => r.value.eventTime < T0 + 8000));
    await settle(scored);
    // Two more instances take partitions (and the sessions on them) in the middle of their windows.
    for (let i = 0; i < 2; i++) extra.push(await startService({ config: h.config, brokers, logger: silentLogger, sample: null }));
    await waitForGroup(admin, h.config.kafka.groupId, 3);
    await h.produce(records.filter((r) => r.value.eventTime >= T0 + 8000 && r.value.eventTime < T0 + 14_000));
    await settle(scored);
    assert.ok(
      extra.some((s) => s.pipeline.stats().scores > 0),
      'the added instances scored windows',
    );
    // They leave; the first instance takes everything back.
    await Promise.all(extra.splice(0).map((s) => s.stop()));
    await waitForGroup(admin, h.config.kafka.groupId, 1);
    await h.produce(records.filter((r) => r.value.eventTime >= T0 + 14_000));
    assertSameAsUninterrupted(await allScores(h, total), want);
  } finally {
    await Promise.all(extra.map((s) => s.stop().catch(() => undefined)));
    await admin.disconnect();
  }
});
