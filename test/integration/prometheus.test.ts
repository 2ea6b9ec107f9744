// @needs kafka (scripts/test.mjs starts the broker for this file)
/**
 * `/metrics` in the Prometheus text format after a session was scored through the real broker:
 * every line is valid exposition syntax (checked line by line, then parsed with
 * parse-prometheus-text-format), the stage counters moved, both histograms hold samples,
 * consumer lag has a series per input partition, the WebSocket client is counted, and a bad
 * record is counted under its dead-letter code. The JSON view stays on `/metrics.json`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';
import WebSocket from 'ws';
import { generateSession } from '../../src/ingest/sampleSession.js';
import { startHarness, waitFor, type Harness } from '../fixtures/pipelineHarness.js';

let h: Harness;
let base: string;
let modelVersion: string;
const TOKEN = 'prometheus-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

before(async () => {
  h = await startHarness({ ws: { port: 0, authTokens: [TOKEN] }, kafka: { lagIntervalMs: 200 } });
  base = `http://127.0.0.1:${h.service.http.port}`;
  modelVersion = ((await (await fetch(`${base}/healthz`)).json()) as { model: string }).model;
});

after(async () => {
  await h?.close();
});

// The text format, line by line (https://prometheus.io/docs/instrumenting/exposition_formats/).
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const VALUE = '(?:[-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?|[-+]?Inf|NaN)';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL})(?:,${LABEL})*,?\\})? ${VALUE}(?: -?\\d+)?$`);
const COMMENT = new RegExp(`^# (?:HELP ${NAME} .*|TYPE ${NAME} (?:counter|gauge|histogram|summary|untyped))$`);

function strictCheck(text: string): void {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const typed = new Map<string, string>();
  for (const line of text.split('\n').slice(0, -1)) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      assert.match(line, COMMENT, `bad comment line: ${line}`);
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) {
        assert.ok(!typed.has(m[1]!), `TYPE given twice for ${m[1]}`);
        typed.set(m[1]!, m[2]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `bad sample line: ${line}`);
    const name = m[1]!;
    const family = typed.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(typed.has(family), `sample ${name} has no TYPE line before it`);
  }
}

async function scrape(): Promise<Map<string, MetricFamily>> {
  const res = await fetch(`${base}/metrics`, { headers: auth });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  strictCheck(text);
  lastScrape = text;
  return new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
}
/** The text of the last scrape: parse-prometheus-text-format drops the labels, sum and count of labelled histograms. */
let lastScrape = '';

const value = (families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number => {
  const family = families.get(name);
  assert.ok(family, `metric ${name} is exposed`);
  const series = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  assert.ok(series, `metric ${name} has a series ${JSON.stringify(labels)}`);
  return Number(series.value);
};

test('/metrics needs the token, and the JSON view moved to /metrics.json', async () => {
  assert.equal((await fetch(`${base}/metrics`)).status, 401);
  assert.equal((await fetch(`${base}/metrics.json`)).status, 401);
  const json = (await (await fetch(`${base}/metrics.json`, { headers: auth })).json()) as { pipeline: { scores: number } };
  assert.equal(typeof json.pipeline.scores, 'number');
});

test('after a session is scored through Kafka, counters moved and histograms have samples', async () => {
  const before = await scrape();
  assert.equal(value(before, 'msa_scores_total'), 0);
  assert.equal(before.get('msa_window_close_to_score_seconds')?.metrics[0]?.count, '0');

  // A WebSocket client, counted while connected.
  const ws = new WebSocket(`ws://127.0.0.1:${h.service.http.port}/ws`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));

  const sessionId = `prom-${Date.now()}`;
  await h.produce(generateSession({ sessionId, startTime: Date.now() - 60_000, endOfStream: true, seed: 3 }));
  await h.produceRaw('audio', sessionId, Buffer.from('not avro'));
  await waitFor('the session scored and its records committed', () => {
    const s = h.service.pipeline.stats();
    return s.windows.expiredSessions >= 1 && s.scores > 0 && (s.transport.deadLettered.MALFORMED_AVRO ?? 0) >= 1 && s.pending === 0;
  });
  assert.equal(await h.waitCommitted(), 0);
  // The lag poll after the last commit sees the group caught up.
  const polls = h.service.pipeline.stats().transport.groupLagPolls;
  await waitFor('two more lag polls', () => h.service.pipeline.stats().transport.groupLagPolls >= polls + 2);

  const m = await scrape();
  const stats = h.service.pipeline.stats();
  assert.equal(value(m, 'msa_scores_total'), stats.scores);
  assert.ok(value(m, 'msa_scores_total') > 0);
  assert.equal(value(m, 'msa_kafka_records_consumed_total'), stats.transport.consumed);
  assert.equal(value(m, 'msa_windows_closed_total'), stats.windows.windowsEmitted);
  assert.equal(value(m, 'msa_sessions_ended_total'), 1);
  assert.equal(value(m, 'msa_sessions_open'), 0);
  assert.equal(value(m, 'msa_model_batches_total'), stats.batches);
  assert.equal(value(m, 'msa_dead_letters_total', { code: 'MALFORMED_AVRO' }), 1);
  assert.equal(value(m, 'msa_kafka_records_produced_total', { topic: h.service.pipeline.topics.scores }), stats.scores);
  assert.equal(value(m, 'msa_ws_clients'), 1);
  assert.deepEqual(m.get('msa_model_info')?.metrics, [{ labels: { version: h.service.pipeline.stats() && modelVersion, provider: 'cpu' }, value: '1' }]);
  assert.ok(value(m, 'msa_process_resident_memory_bytes') > 0, 'process metrics are there too');

  // Worker pools: the model runs in model.workers threads (2 by default), none died; the test
  // model reads no faces, so no face pool and every frame outcome is 0.
  const modelPool = stats.workers.model;
  assert.ok(modelPool && modelPool.workers >= 1, `the model runs in worker threads: ${JSON.stringify(stats.workers)}`);
  assert.equal(value(m, 'msa_worker_threads', { pool: 'model' }), modelPool.workers);
  assert.equal(value(m, 'msa_worker_crashes_total', { pool: 'model' }), 0);
  assert.equal(value(m, 'msa_worker_jobs_failed_total', { pool: 'model' }), 0);
  assert.equal(value(m, 'msa_worker_queued_jobs', { pool: 'model' }), 0);
  assert.equal(m.get('msa_worker_threads')?.metrics.length, Object.keys(stats.workers).length);
  assert.equal(value(m, 'msa_face_frames_total', { outcome: 'stale' }), 0);

  // Histograms: one close-to-score sample per score, one batch-time sample per batch.
  const close = m.get('msa_window_close_to_score_seconds')?.metrics[0];
  assert.equal(m.get('msa_window_close_to_score_seconds')?.type, 'HISTOGRAM');
  assert.equal(Number(close?.count), stats.scores);
  assert.ok(Number(close?.sum) > 0);
  assert.equal(Number(close?.buckets?.['+Inf']), stats.scores);
  const batch = m.get('msa_model_batch_seconds')?.metrics[0];
  assert.equal(Number(batch?.count), stats.batches);
  assert.ok(Number(batch?.sum) > 0);
  const wait = m.get('msa_model_queue_wait_seconds')?.metrics[0];
  assert.equal(Number(wait?.count), stats.batches);
  // Record age: one sample per record decoded (the malformed one included), per kind.
  const ageCount = (kind: string) => Number(new RegExp(`^msa_input_record_age_seconds_count\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(lastScrape)?.[1] ?? 0);
  assert.ok(
    ageCount('audio') > 0 && ageCount('transcript') > 0,
    lastScrape
      .split('\n')
      .filter((l) => l.includes('record_age_seconds_count'))
      .join('\n'),
  );
  assert.equal(ageCount('audio') + ageCount('video') + ageCount('transcript'), stats.transport.consumed);

  // Lag: one series per input topic and partition (3 each), all caught up now.
  const lag = m.get('msa_kafka_consumer_lag');
  assert.equal(lag?.metrics.length, 9, JSON.stringify(lag?.metrics));
  for (const t of [h.service.pipeline.topics.audio, h.service.pipeline.topics.video, h.service.pipeline.topics.transcript]) {
    for (const p of ['0', '1', '2']) assert.equal(value(m, 'msa_kafka_consumer_lag', { topic: t, partition: p }), 0);
  }

  ws.close();
  await waitFor('the WebSocket client gone', () => h.service.scoreServer.stats().clients === 0);
  assert.equal(value(await scrape(), 'msa_ws_clients'), 0);
});
