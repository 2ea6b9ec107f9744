/**
 * The fault suite: real `msa run` processes (children of bin/msa.js) against the project's own
 * broker, started here on its own ports (19401/19402, data in <cacheDir>/chaos-kafka-19401), fed live
 * sessions by the project's session generator through `msa replay`'s sender, while a fault is
 * made. The `scores` topic is read with a read_committed consumer. Per scenario: windows expected
 * (those with words: the default model reads text), seen, lost, duplicates, contradicting (same
 * (sessionId, windowEnd) with another score), partial (a window whose score counts other than
 * the records the generator sent into it, counted here independently of the windows code: a
 * window scored from part of its input), crashes (msa run processes that exited on their
 * own; they are restarted) and recovery_s (fault -> first new score).
 *
 *   npm run chaos -- [--json] [--scenarios kill-9,sigterm,broker-outage,rebalance,poison] [--sessions 20] [--short] [--cpu-prof DIR] [--config FILE]
 *
 * Prints a table, and as its last line (with --json) {"scenarios":[...]}; exits 1 when anything is
 * lost, contradicted, partial or crashed. --short: a 3-utterance script (the whole one for rebalance) and a
 * 15 s outage (CI). --cpu-prof:
 * each `msa run` writes a V8 CPU profile into DIR when it exits (node --cpu-prof). --config: passed
 * to each `msa run` (a JSON config file, README "Configuration").
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { loadConfig } from '../src/config/config.js';
import { startBroker, stopBroker } from '../src/broker/index.js';
import { ownBroker, readOutputTopic, startFreshBroker } from './ownBroker.js';
import { silentLogger } from '../src/log.js';
import { openRecordSender } from '../src/ingest/kafkaSender.js';
import { replay } from '../src/ingest/replay.js';
import { generateSession, SAMPLE_SCRIPT } from '../src/ingest/sampleSession.js';
import { createCodec } from '../src/schemas/codec.js';
import type { DeadLetter, InputRecord, Score, TranscriptSegment } from '../src/schemas/records.js';
import { topicNames } from '../src/transport/topics.js';
import { recordsPerWindow, windowsWithWords } from '../test/fixtures/expectedWindows.js';

const ALL = ['kill-9', 'sigterm', 'broker-outage', 'rebalance', 'poison'] as const;
type Scenario = (typeof ALL)[number];
const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    scenarios: { type: 'string', default: ALL.join(',') },
    sessions: { type: 'string', default: '20' },
    short: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    config: { type: 'string' },
  },
});
const scenarios = flags.scenarios.split(',').map((s) => s.trim()) as Scenario[];
for (const s of scenarios) if (!ALL.includes(s)) throw new Error(`--scenarios: unknown scenario ${JSON.stringify(s)} (known: ${ALL.join(', ')})`);
const sessions = Number(flags.sessions);
if (!Number.isInteger(sessions) || sessions < 1) throw new Error(`--sessions must be a positive integer, got ${JSON.stringify(flags.sessions)}`);
/** --short: 3 utterances (about 8 s), except for rebalance, whose extra instances take longer than that to come up. */
const scriptFor = (name: Scenario) => (flags.short && name !== 'rebalance' ? SAMPLE_SCRIPT.slice(0, 3) : SAMPLE_SCRIPT);
const OUTAGE_MS = flags.short ? 15_000 : 60_000;
const W = 6000;
const H = 1000;
const PORT = 19401;
const CONTROLLER_PORT = 19402;
const WS_PORT0 = 19410;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const base = loadConfig({ env: process.env });
const { options: brokerOpts, brokers, cacheDir } = ownBroker(base, PORT, CONTROLLER_PORT, `chaos-kafka-${PORT}`);
const runId = Date.now().toString(36);
const logDir = join(cacheDir, 'logs', `chaos-${runId}`);
mkdirSync(logDir, { recursive: true });
const log = (line: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface Result {
  name: Scenario;
  windows_expected: number;
  windows_seen: number;
  lost: number;
  duplicates: number;
  contradicting: number;
  /** Windows scored from other than all their records (Score.records against the records sent). */
  partial: number;
  /** Input records sent to the late topic (their windows had closed): none is expected. */
  late_records: number;
  crashes: number;
  recovery_s: number | null;
  healthz_p99_ms?: number;
  poison_records?: number;
  /** Poison records found on the dead-letter topic, by code. */
  poison_dead_lettered?: Record<string, number>;
  /** Poison records neither on the dead-letter topic nor anywhere else visible (must be 0). */
  poison_unaccounted?: number;
}

/** One `msa run` child; counts it as crashed when it exits without being told to. */
class Instance {
  child: ChildProcess | null = null;
  private stopping = false;
  constructor(
    private readonly scenario: string,
    readonly index: number,
    private readonly env: Record<string, string>,
    private readonly onCrash: (code: number | null, signal: string | null) => void,
  ) {}
  get wsPort() {
    return WS_PORT0 + this.index;
  }
  start(): void {
    this.stopping = false;
    const out = openSync(join(logDir, `${this.scenario}-${this.index}.log`), 'a');
    const prof = flags['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${flags['cpu-prof']}`] : [];
    const config = flags.config ? ['--config', flags.config] : [];
    const child = spawn(process.execPath, [...prof, 'bin/msa.js', ...config, 'run', '--ws-port', String(this.wsPort)], {
      // A stable transactional id per instance slot: a restarted instance fences the killed one's
      // open transaction at once instead of waiting out its timeout.
      env: { ...process.env, ...this.env, MSA_TRANSACTIONAL_ID: `${this.env.MSA_GROUP_ID}-${this.index}` },
      stdio: ['ignore', out, out],
    });
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (!this.stopping) {
        this.onCrash(code, signal);
        log(`${this.scenario}: msa run #${this.index} exited on its own (${code ?? signal}); restarting it`);
        setTimeout(() => this.start(), 1000);
      }
    });
  }
  /** Waits until its /healthz says ok (model loaded, partitions assigned, broker reached); at most 3 min. */
  async ready(): Promise<void> {
    const until = Date.now() + 180_000;
    while (Date.now() < until) {
      const status = await fetch(`http://127.0.0.1:${this.wsPort}/healthz`)
        .then((r) => r.json() as Promise<{ status?: string }>)
        .then((h) => h.status)
        .catch(() => null);
      if (status === 'ok') return;
      await sleep(500);
    }
    throw new Error(`${this.scenario}: msa run #${this.index} did not answer /healthz ok within 3 min (log in ${logDir})`);
  }
  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }
}

/** Reads the scores topic (read_committed) from the start, with arrival times. */
async function readScores(kafka: Kafka, topic: string) {
  const seen: Array<{ key: string; score: number; records: number; at: number }> = [];
  const reader = await readOutputTopic<Score>(kafka, topic, 'score', (s) =>
    seen.push({ key: `${s.sessionId}@${s.windowEnd}`, score: s.score, records: s.records, at: Date.now() }),
  );
  return { seen, close: reader.close };
}

/** Reads the dead-letter (or late) topic from the start: where each input record (topic/partition/offset) went, with its code. */
async function readDeadLetters(kafka: Kafka, topic: string) {
  const seen = new Map<string, string>();
  const reasons: string[] = [];
  const reader = await readOutputTopic<DeadLetter>(kafka, topic, 'deadLetter', (l) => {
    seen.set(`${l.sourceTopic}/${l.partition}@${l.offset}`, l.code);
    reasons.push(`${l.sourceTopic}/${l.partition}@${l.offset} ${l.sessionId ?? '?'}: ${l.reason}`);
  });
  return { seen, reasons, close: reader.close };
}

/** A record with invalid UTF-8: encode with a same-length placeholder, then swap its bytes. */
function withInvalidUtf8(encoded: Buffer, placeholder: string): Buffer {
  const at = encoded.indexOf(Buffer.from(placeholder, 'utf8'));
  if (at < 0) throw new Error(`placeholder ${placeholder} not in the encoded record`);
  const out = Buffer.from(encoded);
  out[at] = 0xff;
  out[at + 1] = 0xfe;
  return out;
}

interface PoisonSent {
  what: string;
  /** transcript topic/partition@offset it was written at. */
  at: string;
}

async function sendPoison(kafka: Kafka, prefix: string, now: number, liveSession: string): Promise<PoisonSent[]> {
  const codec = createCodec({ maxRecordBytes: 2 * 1024 * 1024 });
  const topics = topicNames({ prefix });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const seg = (sessionId: string, eventTime: number, text: string, words: TranscriptSegment['words']): TranscriptSegment => ({
    sessionId,
    segmentId: `${sessionId}-poison-${eventTime}`,
    eventTime,
    endTime: eventTime + 2000,
    text,
    words,
    speaker: null,
    channel: 0,
    language: 'en',
    endOfStream: false,
    origin: null,
    isFinal: true,
  });
  // Short words: many of them per byte (the 280 KB one held ~95 000 words in the measurement).
  const words = (bytes: number) => 'ok '.repeat(Math.floor(bytes / 3)).trim();
  const records: Array<{ key: string; value: Buffer; what: string }> = [
    {
      what: '~280 KB transcript without word timings',
      key: `poison-280k-${runId}`,
      value: codec.encode(seg(`poison-280k-${runId}`, now, words(280 * 1024), []), 'transcript'),
    },
    { what: '600 KB transcript', key: `poison-600k-${runId}`, value: codec.encode(seg(`poison-600k-${runId}`, now, words(600 * 1024), []), 'transcript') },
    {
      what: 'record at now + 50 min in a live session',
      key: liveSession,
      value: codec.encode(seg(liveSession, now + 50 * 60_000, 'from the future', []), 'transcript'),
    },
    {
      what: 'session dated 2100',
      key: `poison-2100-${runId}`,
      value: codec.encode(seg(`poison-2100-${runId}`, Date.UTC(2100, 0, 1), 'hello from 2100', []), 'transcript'),
    },
    {
      what: 'invalid UTF-8 in text',
      key: `poison-utf8text-${runId}`,
      value: withInvalidUtf8(codec.encode(seg(`poison-utf8text-${runId}`, now, 'abcXXdef', []), 'transcript'), 'XX'),
    },
    {
      what: 'invalid UTF-8 in session id',
      key: `poison-utf8id-${runId}`,
      value: withInvalidUtf8(codec.encode(seg(`poison-utf8id-YY-${runId}`, now, 'fine text', []), 'transcript'), 'YY'),
    },
  ];
  const sent: PoisonSent[] = [];
  for (const r of records) {
    log(`poison: ${r.what} (${Math.round(r.value.length / 1024)} KB)`);
    const [meta] = await producer.send({ topic: topics.transcript, messages: [{ key: r.key, value: r.value }] });
    sent.push({ what: r.what, at: `${topics.transcript}/${meta!.partition}@${meta!.baseOffset}` });
  }
  await producer.disconnect();
  return sent;
}

async function runScenario(name: Scenario, kafka: Kafka): Promise<Result> {
  const prefix = `chaos-${runId}-${name}.`;
  const env = {
    KAFKA_BROKERS: brokers.join(','),
    MSA_TOPIC_PREFIX: prefix,
    MSA_GROUP_ID: `chaos-${runId}-${name}`,
    MSA_ASR: 'off', // sessions bring their transcript; the recogniser is measured in bench/asrLatency.ts
    MSA_VOICE: 'off', // the fault suite's figures stay words-only; the voice path is measured in bench/voice.ts
    MSA_LOG_LEVEL: 'info',
  };
  let crashes = 0;
  const instances: Instance[] = [];
  const add = () => {
    const i = new Instance(name, instances.length, env, () => crashes++);
    instances.push(i);
    i.start();
    return i;
  };
  add();
  const config = loadConfig({ env: { ...process.env, ...env } });
  // Topics exist once the sender connected (it creates them), so the reader can subscribe.
  const sender = await openRecordSender({ config, brokers, logger: silentLogger });
  const scores = await readScores(kafka, topicNames({ prefix }).scores);
  const late = await readDeadLetters(kafka, topicNames({ prefix }).late);
  await instances[0]!.ready(); // msa run loaded its model and joined the group
  const now = Date.now() + 1000;
  const records: InputRecord[] = [];
  for (let i = 1; i <= sessions; i++) {
    records.push(
      ...generateSession({ sessionId: `chaos-${runId}-${name}-${i}`, startTime: now, script: scriptFor(name), videoFps: 2, endOfStream: true, seed: i }),
    );
  }
  const expected = windowsWithWords(records, W, H);
  const expectedKeys = new Set([...expected].flatMap(([s, ends]) => [...ends].map((e) => `${s}@${e}`)));
  const expectedRecords = recordsPerWindow(records, W, H);
  const replaying = replay(records, sender, { speed: 1, startTime: now });
  const firstScores = async (n: number) => {
    while (scores.seen.length < n) await sleep(100);
  };
  await firstScores(Math.min(20, expectedKeys.size / 4));
  let faultAt = Date.now();
  /** Scores after this come from the pipeline as it is after the fault (restarted, reassigned, reconnected). */
  let resumedAt = 0;
  const extra: Partial<Result> = {};
  let poison: PoisonSent[] = [];
  switch (name) {
    case 'kill-9':
      faultAt = Date.now();
      await instances[0]!.stop('SIGKILL');
      instances[0]!.start();
      resumedAt = Date.now();
      break;
    case 'sigterm':
      faultAt = Date.now();
      await instances[0]!.stop('SIGTERM');
      instances[0]!.start();
      resumedAt = Date.now();
      break;
    case 'broker-outage':
      faultAt = Date.now();
      await stopBroker(brokerOpts, silentLogger);
      log(`broker stopped for ${OUTAGE_MS / 1000} s`);
      await sleep(OUTAGE_MS);
      await startBroker(brokerOpts, silentLogger);
      resumedAt = Date.now();
      log('broker started again');
      break;
    case 'rebalance':
      await Promise.all([add().ready(), add().ready()]);
      await sleep(5000); // the group settles on three members
      faultAt = Date.now();
      await Promise.all([instances[1]!.stop('SIGTERM'), instances[2]!.stop('SIGTERM')]);
      break;
    case 'poison': {
      faultAt = Date.now();
      const latencies: number[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const t0 = performance.now();
          await fetch(`http://127.0.0.1:${instances[0]!.wsPort}/healthz`)
            .then((r) => r.arrayBuffer())
            .catch(() => undefined);
          latencies.push(performance.now() - t0);
          await sleep(50);
        }
      })();
      poison = await sendPoison(kafka, prefix, Date.now(), `chaos-${runId}-${name}-1`);
      extra.poison_records = poison.length;
      await replaying;
      await sleep(5000);
      sampling = false;
      await sampler;
      latencies.sort((a, b) => a - b);
      extra.healthz_p99_ms = Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0);
      break;
    }
  }
  resumedAt ||= Date.now();
  await replaying;
  if (poison.length > 0) {
    // Every poison record must be visible on the dead-letter topic (nothing silently dropped).
    const letters = await readDeadLetters(kafka, topicNames({ prefix }).deadLetter);
    const until = Date.now() + 60_000;
    while (Date.now() < until && poison.some((p) => !letters.seen.has(p.at))) await sleep(500);
    await letters.close();
    const codes: Record<string, number> = {};
    for (const p of poison) {
      const code = letters.seen.get(p.at);
      if (code) codes[code] = (codes[code] ?? 0) + 1;
      else log(`poison: ${p.what} (${p.at}) is not on the dead-letter topic`);
    }
    extra.poison_dead_lettered = codes;
    extra.poison_unaccounted = poison.filter((p) => !letters.seen.has(p.at)).length;
  }
  // Until every expected window is seen, then 10 s more for late duplicates; at most 120 s.
  const deadline = Date.now() + 120_000;
  const seenKeys = () => new Set(scores.seen.map((s) => s.key));
  while (Date.now() < deadline && [...expectedKeys].some((k) => !seenKeys().has(k))) await sleep(500);
  await sleep(10_000);
  await Promise.all(instances.map((i) => i.stop('SIGTERM')));
  await sender.close();
  await scores.close();
  await late.close();
  for (const r of late.reasons.slice(0, 5)) log(`${name}: late record ${r}`);

  const byKey = new Map<string, Set<number>>();
  for (const s of scores.seen) byKey.set(s.key, (byKey.get(s.key) ?? new Set()).add(s.score));
  const partial = scores.seen.filter((s) => expectedKeys.has(s.key) && s.records !== expectedRecords.get(s.key));
  for (const s of partial.slice(0, 5)) log(`${name}: ${s.key} scored from ${s.records} records, ${expectedRecords.get(s.key) ?? 0} were sent into it`);
  const seen = [...expectedKeys].filter((k) => byKey.has(k)).length;
  const after = scores.seen.find((s) => s.at > Math.max(faultAt, resumedAt));
  return {
    name,
    windows_expected: expectedKeys.size,
    windows_seen: seen,
    lost: expectedKeys.size - seen,
    duplicates: scores.seen.length - byKey.size,
    contradicting: [...byKey.values()].filter((v) => v.size > 1).length,
    partial: new Set(partial.map((s) => s.key)).size,
    late_records: late.seen.size,
    crashes,
    recovery_s: after ? Math.round((after.at - faultAt) / 100) / 10 : null,
    ...extra,
  };
}

async function main(): Promise<void> {
  // Build once here (bin/msa.js builds a stale dist/ itself, and three at once would race).
  const built = spawnSync(process.execPath, ['scripts/ensure-deps.mjs'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (built.status !== 0) throw new Error(`scripts/ensure-deps.mjs failed (${built.status ?? built.signal})`);
  log(`broker on ${brokers.join(',')} (data ${brokerOpts.dataDir}); logs in ${logDir}`);
  await startFreshBroker(brokerOpts);
  const kafka = new Kafka({ clientId: 'msa-chaos', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
  const results: Result[] = [];
  try {
    for (const name of scenarios) {
      log(`scenario ${name}: ${sessions} sessions`);
      const r = await runScenario(name, kafka);
      log(`scenario ${name}: ${JSON.stringify(r)}`);
      results.push(r);
    }
  } finally {
    await stopBroker(brokerOpts, silentLogger).catch(() => undefined);
  }
  const cols = ['name', 'windows_expected', 'windows_seen', 'lost', 'duplicates', 'contradicting', 'partial', 'late_records', 'crashes', 'recovery_s'] as const;
  const rows = results.map((r) => cols.map((c) => String(r[c] ?? '-')));
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log([line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n'));
  const poison = results.find((r) => r.name === 'poison');
  if (poison) {
    console.log(
      `poison: /healthz p99 ${poison.healthz_p99_ms} ms; dead-lettered ${JSON.stringify(poison.poison_dead_lettered)}; unaccounted ${poison.poison_unaccounted}`,
    );
  }
  if (flags.json) console.log(JSON.stringify({ scenarios: results }));
  process.exitCode = results.some((r) => r.lost > 0 || r.contradicting > 0 || r.partial > 0 || r.crashes > 0 || (r.poison_unaccounted ?? 0) > 0) ? 1 : 0;
}

await main();
