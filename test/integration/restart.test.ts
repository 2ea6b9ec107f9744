// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * A pipeline stopped in the middle of its sessions (open windows not flushed, as on SIGTERM or a
 * crash) and started again in the same consumer group: the windows left open are scored after the
 * restart from ALL their records, with the same score and record count as a run that was never
 * interrupted, and no window is scored twice (the restored changelog state; see README "Delivery
 * and faults"). Scores are read with read_committed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { generateSession } from '../../src/ingest/sampleSession.js';
import type { InputRecord, Score } from '../../src/schemas/records.js';
import { windowsWithWords } from '../fixtures/expectedWindows.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';

const W = 6000;
const H = 1000;
const T0 = 1_760_000_000_000;
const windows = { sizeMs: W, hopMs: H, allowedLatenessMs: 2000 };

const harnesses: Harness[] = [];
let records: InputRecord[] = [];
const sessions = ['restart-a', 'restart-b', 'restart-c', 'restart-d'];

before(() => {
  records = sessions.flatMap((sessionId, i) => generateSession({ sessionId, startTime: T0 + i * 700, endOfStream: true, seed: i + 7 }));
  records.sort((a, b) => a.value.eventTime - b.value.eventTime);
});

after(async () => {
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

test('stopped mid-session and restarted: every window scored once, from all its records, as in an uninterrupted run', { timeout: 300_000 }, async () => {
  const expected = windowsWithWords(records, W, H);
  const total = [...expected.values()].reduce((n, s) => n + s.size, 0);

  // The reference: one uninterrupted run.
  const reference = await startHarness({ windows });
  harnesses.push(reference);
  await reference.produce(records);
  const want = new Map((await allScores(reference, total)).map((s) => [keyOf(s), s]));
  assert.equal(want.size, total);

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
  const got = await allScores(second, total);

  const byKey = new Map<string, Score[]>();
  for (const s of got) byKey.set(keyOf(s), [...(byKey.get(keyOf(s)) ?? []), s]);
  assert.deepEqual(new Set(byKey.keys()), new Set(want.keys()), 'the same windows scored');
  const twice = [...byKey.entries()].filter(([, list]) => list.length > 1).map(([k]) => k);
  assert.deepEqual(twice, [], 'no window scored twice');
  for (const [k, [s]] of byKey) {
    const w = want.get(k)!;
    assert.equal(s!.records, w.records, `${k}: same record count`);
    assert.equal(s!.windowScore, w.windowScore, `${k}: same window score`);
    assert.equal(s!.score, w.score, `${k}: same rolling score`);
  }
});
