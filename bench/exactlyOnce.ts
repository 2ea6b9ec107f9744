/**
 * Exactly-once against at-least-once, and recovery after kill -9, on the project's own broker
 * (started here on 127.0.0.1:19301, controller 19302, data <cacheDir>/eos-bench-kafka; stopped at the end).
 *
 *   node --import tsx bench/exactlyOnce.ts [--sessions 40] [--reps 2] [--skip-throughput] [--skip-recovery] [--json]
 *
 * - Throughput: one pipeline (in this process, the default model) on fresh topics, and `--sessions`
 *   generated sessions written to them as fast as the sender goes; windows/s = windows scored / time
 *   from the first score to the last. Runs alternate exactly-once and at-least-once, `--reps` each;
 *   medians and the ratio exactly-once / at-least-once.
 * - Recovery: real `msa run` children (this checkout, asr off), 10 sessions paced in real time by
 *   `msa replay`'s sender, scores read with read_committed. (a) kill -9 of the only instance
 *   (stable `MSA_TRANSACTIONAL_ID`) and an immediate restart: seconds from the kill to the first
 *   score seen after it; (b) two instances, kill -9 of one, no restart: seconds from the kill to the
 *   first score of a session on the killed instance's partitions (the survivor took them). Both
 *   also count lost, duplicate and contradicting windows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '../src/config/config.js';
import { stopBroker } from '../src/broker/index.js';
import { median, ownBroker, readOutputTopic, startFreshBroker } from './ownBroker.js';
import { createLogger, silentLogger } from '../src/log.js';
import { openRecordSender } from '../src/ingest/kafkaSender.js';
import { replay } from '../src/ingest/replay.js';
import { generateSession } from '../src/ingest/sampleSession.js';
import type { InputRecord, Score } from '../src/schemas/records.js';
import { topicNames } from '../src/transport/topics.js';
import { startService } from '../src/pipeline/service.js';
import { windowsWithWords } from '../test/fixtures/expectedWindows.js';

const { values: flags } = parseArgs({
  options: {
    sessions: { type: 'string', default: '40' },
    reps: { type: 'string', default: '2' },
    'skip-throughput': { type: 'boolean', default: false },
    'skip-recovery': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const sessions = Number(flags.sessions);
const reps = Number(flags.reps);
if (!Number.isInteger(sessions) || sessions < 1) throw new Error(`--sessions must be a positive integer, got ${flags.sessions}`);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${flags.reps}`);

const PORT = 19301;
const CONTROLLER_PORT = 19302;
const W = 6000;
const H = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => process.stderr.write(`[eos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

const base = loadConfig({ env: process.env });
const { options: brokerOpts, brokers, cacheDir } = ownBroker(base, PORT, CONTROLLER_PORT, 'eos-bench-kafka');
const runId = Date.now().toString(36);
const logDir = join(cacheDir, 'logs', `eos-bench-${runId}`);
mkdirSync(logDir, { recursive: true });
type Delivery = 'exactly-once' | 'at-least-once';

async function throughputRun(delivery: Delivery, rep: number): Promise<number> {
  const prefix = `eos-tp-${runId}-${delivery}-${rep}.`;
  const config = loadConfig({
    overrides: { logLevel: 'silent', kafka: { brokers, topicPrefix: prefix, groupId: `${prefix}g`, delivery }, asr: { mode: 'off' }, ws: { port: 0 } },
  });
  const t0 = 1_760_000_000_000;
  const records = Array.from({ length: sessions }, (_, i) =>
    generateSession({ sessionId: `tp-${i}`, startTime: t0 + i * 337, endOfStream: true, seed: i + 1 }),
  ).flat();
  records.sort((a, b) => a.value.eventTime - b.value.eventTime);
  const expected = [...windowsWithWords(records, W, H).values()].reduce((n, s) => n + s.size, 0);
  let first = 0;
  let last = 0;
  let scored = 0;
  const service = await startService({
    config: { ...config, windows: { ...config.windows, sizeMs: W, hopMs: H } },
    brokers,
    logger: process.env.EOS_BENCH_LOG ? createLogger('info', 'bench') : silentLogger,
    sample: null,
  });
  service.done.catch((err: unknown) => log(`throughput ${delivery} #${rep}: the pipeline failed: ${String(err)}`));
  service.pipeline.scores$.subscribe({ error: () => undefined });
  service.pipeline.scores$.subscribe(() => {
    const now = performance.now();
    if (scored++ === 0) first = now;
    last = now;
  });
  // Written while the pipeline runs (a backlog written before is read topic by topic and its
  // transcripts come late, README "Broker outages"), as fast as the sender goes.
  await sleep(3000);
  const sender = await openRecordSender({ config, brokers, logger: silentLogger });
  await replay(records, sender, { speed: 0, startTime: null });
  await sender.close();
  const deadline = Date.now() + 600_000;
  let failed = false;
  service.done.catch(() => (failed = true));
  // Until every window is scored, or nothing new for 20 s (a window lost is reported, not waited for).
  let lastCount = -1;
  let quietSince = Date.now();
  while (scored < expected && !failed && Date.now() < deadline && Date.now() - quietSince < 20_000) {
    if (scored !== lastCount) [lastCount, quietSince] = [scored, Date.now()];
    await sleep(100);
  }
  await service.stop();
  const rate = scored > 1 ? ((scored - 1) * 1000) / (last - first) : 0;
  log(`throughput ${delivery} #${rep}: ${scored}/${expected} windows, ${rate.toFixed(1)} windows/s`);
  return rate;
}

/** Reads the scores topic (read_committed) from the start: key, score, partition, arrival time. */
async function readScores(kafka: Kafka, topic: string) {
  const seen: Array<{ key: string; score: number; partition: number; at: number }> = [];
  const reader = await readOutputTopic<Score>(kafka, topic, 'score', (s, partition) =>
    seen.push({ key: `${s.sessionId}@${s.windowEnd}`, score: s.score, partition, at: Date.now() }),
  );
  return { seen, close: reader.close };
}

function spawnRun(name: string, env: Record<string, string>, clientId: string): ChildProcess {
  const cfg = join(logDir, `${name}.json`);
  writeFileSync(cfg, JSON.stringify({ kafka: { clientId }, windows: { sizeMs: W, hopMs: H } }));
  const out = openSync(join(logDir, `${name}.log`), 'a');
  // From source (tsx), so the bench needs no build of dist/.
  const script = "const { main } = await import('./src/cli/main.ts'); await main(['node', 'msa', ...process.argv.slice(1)]);";
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, '--', '--config', cfg, 'run', '--ws-port', '0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

interface Recovery {
  name: string;
  recovery_s: number | null;
  windows_expected: number;
  lost: number;
  duplicates: number;
  contradicting: number;
}

async function recoveryRun(kafka: Kafka, mode: 'restart' | 'move'): Promise<Recovery> {
  const prefix = `eos-rec-${runId}-${mode}.`;
  const env = { KAFKA_BROKERS: brokers.join(','), MSA_TOPIC_PREFIX: prefix, MSA_GROUP_ID: `${prefix}g`, MSA_ASR: 'off', MSA_LOG_LEVEL: 'info' };
  const config = loadConfig({ env: { ...process.env, ...env } });
  const sender = await openRecordSender({ config, brokers, logger: silentLogger });
  const children: ChildProcess[] = [spawnRun(`${mode}-a`, { ...env, MSA_TRANSACTIONAL_ID: `${prefix}a` }, 'msa-a')];
  if (mode === 'move') children.push(spawnRun(`${mode}-b`, { ...env, MSA_TRANSACTIONAL_ID: `${prefix}b` }, 'msa-b'));
  const scores = await readScores(kafka, topicNames({ prefix }).scores);
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Both instances in the group (each holds partitions) before the sessions start.
    for (let i = 0; i < 240; i++) {
      const { groups } = await admin.describeGroups([`${prefix}g`]);
      if (groups[0]?.state === 'Stable' && groups[0].members.length === children.length) break;
      await sleep(500);
    }
    const now = Date.now() + 1000;
    const records: InputRecord[] = Array.from({ length: 10 }, (_, i) =>
      generateSession({ sessionId: `rec-${mode}-${i}`, startTime: now, endOfStream: true, seed: i + 1 }),
    ).flat();
    const expected = windowsWithWords(records, W, H);
    const keys = new Set([...expected].flatMap(([s, ends]) => [...ends].map((e) => `${s}@${e}`)));
    const replaying = replay(records, sender, { speed: 1, startTime: now });
    while (scores.seen.length < 20) await sleep(100);
    // The partitions of instance a (clientId msa-a).
    const { groups } = await admin.describeGroups([`${prefix}g`]);
    const member = groups[0]?.members.find((m) => m.clientId === 'msa-a');
    const assignment = member ? AssignerProtocol.MemberAssignment.decode(member.memberAssignment) : null;
    const killedPartitions = new Set(Object.values(assignment?.assignment ?? {}).flat());
    const killedAt = Date.now();
    await kill9(children[0]!);
    if (mode === 'restart') children[0] = spawnRun(`${mode}-a2`, { ...env, MSA_TRANSACTIONAL_ID: `${prefix}a` }, 'msa-a');
    await replaying;
    const deadline = Date.now() + 120_000;
    const seenKeys = () => new Set(scores.seen.map((s) => s.key));
    while (Date.now() < deadline && [...keys].some((k) => !seenKeys().has(k))) await sleep(500);
    await sleep(5000);
    const after = scores.seen.find((s) => s.at > killedAt && (mode === 'restart' || killedPartitions.has(s.partition)));
    const byKey = new Map<string, Set<number>>();
    for (const s of scores.seen) byKey.set(s.key, (byKey.get(s.key) ?? new Set()).add(s.score));
    const result: Recovery = {
      name: mode === 'restart' ? 'kill-9, restart' : 'kill-9, survivor takes over',
      recovery_s: after ? Math.round((after.at - killedAt) / 100) / 10 : null,
      windows_expected: keys.size,
      lost: [...keys].filter((k) => !byKey.has(k)).length,
      duplicates: scores.seen.length - byKey.size,
      contradicting: [...byKey.values()].filter((v) => v.size > 1).length,
    };
    log(`recovery: ${JSON.stringify(result)} (killed partitions ${[...killedPartitions].join(',')})`);
    return result;
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await admin.disconnect();
    await sender.close();
    await scores.close();
  }
}

async function main(): Promise<void> {
  log(`broker on ${brokers.join(',')} (data ${brokerOpts.dataDir}); logs in ${logDir}; a machine shared with other work: compare ratios, not absolutes`);
  await startFreshBroker(brokerOpts);
  const kafka = new Kafka({ clientId: 'msa-eos-bench', brokers, logLevel: logLevel.NOTHING });
  const out: Record<string, unknown> = {};
  try {
    if (!flags['skip-throughput']) {
      const rates: Record<Delivery, number[]> = { 'exactly-once': [], 'at-least-once': [] };
      for (let r = 0; r < reps; r++) {
        for (const d of ['exactly-once', 'at-least-once'] as const) rates[d].push(await throughputRun(d, r));
      }
      const eos = median(rates['exactly-once']);
      const alo = median(rates['at-least-once']);
      out.throughput = { sessions, reps, exactly_once_windows_s: eos, at_least_once_windows_s: alo, ratio: eos / alo };
      console.log(`windows/s (median of ${reps}): exactly-once ${eos.toFixed(1)}, at-least-once ${alo.toFixed(1)}, ratio ${(eos / alo).toFixed(2)}`);
    }
    if (!flags['skip-recovery']) {
      const rec = [await recoveryRun(kafka, 'restart'), await recoveryRun(kafka, 'move')];
      out.recovery = rec;
      for (const r of rec)
        console.log(
          `${r.name}: recovery ${r.recovery_s} s; ${r.windows_expected} windows, lost ${r.lost}, duplicates ${r.duplicates}, contradicting ${r.contradicting}`,
        );
    }
  } finally {
    await stopBroker(brokerOpts, silentLogger).catch(() => undefined);
  }
  if (flags.json) console.log(JSON.stringify(out));
}

await main();
