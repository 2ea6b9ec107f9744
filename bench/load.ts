/**
 * Load benchmark: N live sessions through Kafka and the whole service (`msa run` as a child
 * process), measured at a WebSocket client.
 *
 *   node --import tsx bench/load.ts --sessions N --duration S [--video] [--json] [--ladder]
 *        [--brokers host:port] [--msa bin/msa.js] [--config file.json] [--repeats R]
 *        [--from N] [--step N] [--max N] [--drain S] [--plot out.svg] [--label text]
 *        [--log-level debug] [--msa-log file] [--metrics-out file] [--ramp S]
 *
 * - Sessions start spread over one hop, or over `--ramp S` seconds (and so end spread over it too).
 *
 * - Broker: `--brokers` (or KAFKA_BROKERS) is used as is; otherwise the bench starts its own
 *   broker on ports 19600/19601 (data in <cacheDir>/load-bench-kafka; started empty, with
 *   `fresh`, when it does not run) and leaves it running for the next run (`msa kafka stop` with MSA_KAFKA_PORT=19600 MSA_KAFKA_DATA_DIR=... stops it).
 * - Pipeline: `node <msa> run` (default this checkout's bin/msa.js; pass another checkout's to
 *   compare code), on fresh topics (`MSA_TOPIC_PREFIX`) and group per run, asr off unless
 *   `--asr auto`, the voice path off unless `--voice on` (words-only sessions), the rest of the config from defaults or `--config`.
 *   Its log level is `--log-level` (default warn); `--msa-log FILE` appends its whole log there;
 *   `--metrics-out FILE` appends its Prometheus `/metrics` at the end of each run (the stage
 *   histograms: queue wait, batch time, close to score).
 * - Sessions (bench/loadSessions.ts): generated (src/ingest/sampleSession.ts), started a hop apart spread evenly, paced in
 *   real time. Each record is stamped when it is sent: an audio chunk (every 100 ms) gets the send
 *   time as event time; a transcript segment is sent when its speech ends (as a recogniser would)
 *   and gets that time as its end. Segments are 3 words long, so the transcript is never idle for
 *   `windows.modalityIdleMs` and which records a window holds does not depend on load. Sends go out
 *   once per tick for all sessions together, not awaited one by one.
 * - Delay: from the send of the record that lets a window close (the watermark, min over the
 *   session's live modalities that have not ended of the event time they reach, minus allowed
 *   lateness, passes the window's end; or the last endOfStream; see SessionTracker) to the arrival of its score at the WebSocket
 *   client. Windows expected: every window a transcript word overlaps (a words-only model scores
 *   no other; see SessionTracker); lost: expected ones with no score when the drain ends, each
 *   described on stderr (bench/loadLost.ts: what was sent for it, the pipeline's counters).
 * - Also sampled every 500 ms: pipeline and broker CPU (/proc), pipeline RSS, consumer lag
 *   (records sent minus records the pipeline consumed, from its /metrics.json) and the response
 *   time of /healthz and /metrics.json.
 * - `--ladder`: runs N = from, from + step, ... until a rung fails (p99 > 500 ms or anything lost,
 *   median of `--repeats` runs; when `from` itself fails: from - step, from - 2 step, ... until one
 *   passes), then halves the step between the last pass and the first failure down to step / 4;
 *   prints the table and the largest N that held.
 *
 * Output: a table on stderr/stdout; with --json the last stdout line is one object
 * {"sessions","windows_expected","windows_received","lost","p50_ms","p95_ms","p99_ms",
 *  "pipeline_cpu_pct","broker_cpu_pct","rss_mb","lag_max"} (for the ladder: the largest passing rung),
 * after a line {"runs":[...]} with every run in full (also `wordless`: windows holding a segment but
 * none of its words, not expected; `unscored_expected` / `unscored_pipeline`: windows with records
 * but no words by the bench's count and by the pipeline's `unscoredWindows`, equal when nothing is lost). A latency histogram (Vega-Lite, SVG) goes
 * to bench/out/load-latency.svg or --plot.
 */
import { appendFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cacheDirOf, loadConfig, type Config } from '../src/config/config.js';
import { brokerStatus, startBroker } from '../src/broker/index.js';
import { createLogger } from '../src/log.js';
import { openRecordSender, type OpenSender } from '../src/ingest/kafkaSender.js';
import { loadFaceFrames, withFace } from './loadFaces.js';
import { describeEarly, describeLost } from './loadLost.js';
import { newLoadSession } from './loadSessions.js';
import { collectScores, delayParts, sendPlans, type Sending } from './loadScores.js';
import { startPipeline, startProbe } from './loadChild.js';
import {
  cpuSeconds,
  round,
  quantilesOf,
  rssMb,
  summarise,
  tableRow,
  TABLE_HEAD,
  timedGet,
  writeHistogram,
  type RunResult,
  type Summary,
} from './loadReport.js';

export type { RunResult } from './loadReport.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

const { values: flags } = parseArgs({
  options: {
    sessions: { type: 'string', default: '50' },
    duration: { type: 'string', default: '60' },
    video: { type: 'boolean', default: false },
    /** With --video: real JPEG frames of this clip instead of 8x8 noise (bench/loadFaces.ts). */
    faces: { type: 'string' },
    json: { type: 'boolean', default: false },
    ladder: { type: 'boolean', default: false },
    brokers: { type: 'string' },
    msa: { type: 'string', default: join(root, 'bin', 'msa.js') },
    config: { type: 'string' },
    asr: { type: 'string', default: 'off' },
    voice: { type: 'string', default: 'off' },
    repeats: { type: 'string', default: '1' },
    from: { type: 'string', default: '50' },
    step: { type: 'string', default: '50' },
    max: { type: 'string', default: '1000' },
    drain: { type: 'string', default: '120' },
    ramp: { type: 'string' },
    plot: { type: 'string' },
    label: { type: 'string' },
    'target-p99': { type: 'string', default: '500' },
    'log-level': { type: 'string', default: 'warn' },
    'msa-log': { type: 'string' },
    'metrics-out': { type: 'string' },
  },
});

const positiveInt = (name: string, raw: string | undefined): number => {
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return v;
};
const opts = {
  sessions: positiveInt('sessions', flags.sessions),
  durationS: positiveInt('duration', flags.duration),
  repeats: positiveInt('repeats', flags.repeats),
  from: positiveInt('from', flags.from),
  step: positiveInt('step', flags.step),
  max: positiveInt('max', flags.max),
  drainS: positiveInt('drain', flags.drain),
  /** Sessions start spread over this many ms (so they also end spread over it); default one hop. */
  rampMs: flags.ramp === undefined ? null : positiveInt('ramp', flags.ramp) * 1000,
  targetP99: positiveInt('target-p99', flags['target-p99']),
  msa: resolve(flags.msa),
  asr: flags.asr,
  voice: flags.voice,
};
if (!['off', 'on'].includes(opts.voice)) throw new RangeError(`--voice must be off or on, got ${JSON.stringify(opts.voice)}`);
if (!['off', 'auto', 'always'].includes(opts.asr)) throw new RangeError(`--asr must be off, auto or always, got ${JSON.stringify(opts.asr)}`);
const faceFrames = flags.faces ? await loadFaceFrames(resolve(flags.faces)) : null;
const OWN_BROKER = { port: 19600, controllerPort: 19601 };
const SAMPLE_MS = 500;
/** The health probe's interval (bench/healthProbe.ts): a Kubernetes probe every few seconds would sample less often. */
const PROBE_MS = 250;

const log = createLogger('warn', 'load-bench');
const say = (line: string) => process.stderr.write(`${line}\n`);

// --- one run --------------------------------------------------------------------------------

async function runOnce(n: number, brokers: string[], brokerPid: number | null, config: Config): Promise<RunResult> {
  const prefix = `load-${Date.now()}-${n}-`;
  const pipe = await startPipeline(
    { msa: opts.msa, config: flags.config, asr: opts.asr, voice: opts.voice, logLevel: flags['log-level'], msaLog: flags['msa-log'] },
    brokers,
    prefix,
  );
  const probe = startProbe(pipe.base, PROBE_MS, say);
  let exitCode: number | null = null;
  let exited = false;
  void pipe.exit.then((c) => {
    exitCode = c;
    exited = true;
  });
  const senderConfig = loadConfig({ file: flags.config, overrides: { kafka: { brokers, topicPrefix: prefix } } });
  const sender: OpenSender = await openRecordSender({ config: senderConfig, brokers, logger: log });

  // Scores at the client.
  const client = await collectScores(pipe.wsUrl);
  const { received } = client;

  // Sessions, started spread over one hop, or over --ramp seconds: all of them ending in the same
  // second flushes every session's last windows at once (6-8 each), a burst the model queue answers
  // with backpressure, which holds the other sessions' last records back (README Load).
  const plans = Array.from({ length: n }, (_, i) =>
    newLoadSession({
      id: `${prefix}s${i + 1}`,
      durationS: opts.durationS,
      video: flags.video ?? false,
      seed: i + 1,
      startOffset: (i * (opts.rampMs ?? config.windows.hopMs)) / n,
      windows: config.windows,
      transform: faceFrames ? (r) => withFace(r, faceFrames, i + 1) : undefined,
    }),
  );
  const sending: Sending = { sent: 0, errors: 0, ackMs: { audio: [], video: [], transcript: [] } };
  let consumed = 0;
  let lagMax = 0;
  const healthMs: number[] = [];
  const metricsMs: number[] = [];
  let rssMax = 0;
  let video: RunResult['video'];

  const load_before = loadavg()[0]!;
  const t0 = Date.now() + 200;
  const cpu0 = { pipe: await cpuSeconds(pipe.child.pid!), broker: brokerPid ? await cpuSeconds(brokerPid) : null, at: performance.now() };

  const sampler = setInterval(() => {
    void (async () => {
      const r = await rssMb(pipe.child.pid!);
      if (r !== null) rssMax = Math.max(rssMax, r);
      try {
        healthMs.push((await timedGet(`${pipe.base}/healthz`)).ms);
        const m = await timedGet(`${pipe.base}/metrics.json`);
        metricsMs.push(m.ms);
        const c = (m.body as { pipeline?: { transport?: { consumed?: number } } } | null)?.pipeline?.transport?.consumed;
        if (typeof c === 'number') consumed = c;
        video = (m.body as { pipeline?: { features?: { video?: RunResult['video'] } } } | null)?.pipeline?.features?.video ?? video;
        lagMax = Math.max(lagMax, sending.sent - consumed);
      } catch {
        // the child is gone or too slow: counted by what is missing
      }
    })();
  }, SAMPLE_MS);

  await sendPlans(plans, sender, t0, sending, () => exited, say);
  const cpu1 = { pipe: await cpuSeconds(pipe.child.pid!), broker: brokerPid ? await cpuSeconds(brokerPid) : null, at: performance.now() };
  const elapsedS = (cpu1.at - cpu0.at) / 1000;

  // Drain: until every expected window has a score, the child exits, or no score for --drain s.
  const expectedKeys = plans.flatMap((s) => [...s.tracker.expected].map((e) => `${s.id}@${e}`));
  const expectedSet = new Set(expectedKeys);
  let lastCount = -1;
  let lastChange = Date.now();
  while (!exited) {
    let have = 0;
    for (const k of expectedKeys) if (received.arrivals.has(k)) have++;
    if (have === expectedKeys.length) break;
    if (received.arrivals.size !== lastCount) {
      lastCount = received.arrivals.size;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > opts.drainS * 1000) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  clearInterval(sampler);
  const probed = await probe.stop();
  if (flags['metrics-out'] && !exited) {
    const text = await fetch(`${pipe.base}/metrics`, { signal: AbortSignal.timeout(10_000) }).then(
      (r) => r.text(),
      (err: unknown) => `# /metrics failed: ${String(err)}\n`,
    );
    await appendFile(resolve(flags['metrics-out']), `# run ${prefix}: ${n} sessions\n${text}\n`);
  }
  const lostKeys = expectedKeys.filter((k) => !received.arrivals.has(k));
  const finalMetrics = exited
    ? null
    : await timedGet(`${pipe.base}/metrics.json`).then(
        (m) => m.body as { pipeline?: { unscoredWindows?: Record<string, number> } } | null,
        () => null,
      );
  if (lostKeys.length > 0) {
    say(describeLost({ plans, lost: lostKeys, receivedEnds: received.ends, metrics: finalMetrics, windows: config.windows }));
  }

  const { delays, sendToClose, emittedToWs, early: earlyKeys } = delayParts(plans, received);
  const early = earlyKeys.length;
  if (early > 0) say(describeEarly(plans, earlyKeys));
  let extra = 0;
  for (const k of received.arrivals.keys()) if (!expectedSet.has(k)) extra++;
  const windowsReceived = expectedKeys.length - lostKeys.length;

  client.close();
  await sender.close();
  const exitedDuringRun = exited;
  if (!exited) {
    pipe.child.kill('SIGTERM');
    const killer = setTimeout(() => pipe.child.kill('SIGKILL'), 20_000);
    await pipe.exit;
    clearTimeout(killer);
  } else {
    say(`msa run exited with ${exitCode} during the run; its last log lines:\n${pipe.stderrTail.slice(-10).join('\n')}`);
  }
  const pct = (a: number | null, b: number | null) => (a === null || b === null ? null : round(((b - a) / elapsedS) * 100));
  const delay = quantilesOf(delays);
  // Each score's own latencyMs (its window's close to its emission) is emitted minus closed.
  const inPipeline = quantilesOf([...received.stamps.values()].map((st) => st.emitted - st.closed));
  const toClose = quantilesOf(sendToClose);
  const toWs = quantilesOf(emittedToWs);
  return {
    sessions: n,
    windows_expected: expectedKeys.length,
    windows_received: windowsReceived,
    lost: lostKeys.length,
    p50_ms: delay(0.5),
    p95_ms: delay(0.95),
    p99_ms: delay(0.99),
    pipeline_cpu_pct: pct(cpu0.pipe, cpu1.pipe),
    broker_cpu_pct: pct(cpu0.broker, cpu1.broker),
    rss_mb: round(rssMax),
    lag_max: lagMax,
    extra,
    wordless: plans.reduce((n, s) => n + s.tracker.wordless.size, 0),
    unscored_expected: plans.reduce((n, s) => n + s.tracker.joined.size - s.tracker.expected.size, 0),
    unscored_pipeline: finalMetrics === null ? null : Object.values(finalMetrics.pipeline?.unscoredWindows ?? {}).reduce((a, b) => a + b, 0),
    duplicates: received.duplicates,
    early,
    max_ms: delay(1),
    healthz_p99_ms: quantilesOf(probed.healthz_ms, 1)(0.99),
    metrics_p99_ms: quantilesOf(probed.metrics_ms, 1)(0.99),
    healthz_inproc_p99_ms: quantilesOf(healthMs, 1)(0.99),
    metrics_json_inproc_p99_ms: quantilesOf(metricsMs, 1)(0.99),
    loop_delay_p99_ms: quantilesOf(probed.loop_max_ms, 1)(0.99),
    loop_delay_max_ms: quantilesOf(probed.loop_max_ms, 1)(1),
    score_latency_p50_ms: inPipeline(0.5),
    score_latency_p99_ms: inPipeline(0.99),
    send_acked_audio_p99_ms: quantilesOf(sending.ackMs.audio)(0.99),
    send_acked_transcript_p99_ms: quantilesOf(sending.ackMs.transcript)(0.99),
    send_to_close_p50_ms: toClose(0.5),
    send_to_close_p99_ms: toClose(0.99),
    emitted_to_ws_p50_ms: toWs(0.5),
    emitted_to_ws_p99_ms: toWs(0.99),
    exit_code: exitedDuringRun ? exitCode : null,
    send_errors: sending.errors,
    records_sent: sending.sent,
    load_before: round(load_before, 2)!,
    ...(video
      ? {
          video: {
            frames: video.frames,
            analysed: video.analysed,
            shed: video.shed,
            stale: video.stale ?? 0,
            failed: video.failed,
            analyseMs: Math.round(video.analyseMs),
          },
        }
      : {}),
    delays,
  };
}

const passes = (s: Summary) => s.lost === 0 && s.exit_code === null && s.p99_ms !== null && s.p99_ms <= opts.targetP99;

async function main(): Promise<void> {
  const config = loadConfig({ file: flags.config, env: { KAFKA_BROKERS: flags.brokers ?? process.env.KAFKA_BROKERS } });
  let brokers = config.kafka.brokers;
  let brokerPid: number | null = null;
  if (brokers === null) {
    // Reused when it runs (a ladder of runs against one broker); otherwise started empty.
    const own = { ...OWN_BROKER, dataDir: join(cacheDirOf(config), 'load-bench-kafka') };
    const running = (await brokerStatus(own, { probe: false })).state === 'running';
    const started = await startBroker(own, log, { fresh: !running });
    brokers = started.brokers;
    brokerPid = started.pid;
  }
  say(
    `load bench: ${cpus().length} cores, load ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}, brokers ${brokers.join(',')}${brokerPid ? ` (own, pid ${brokerPid})` : ''}, msa ${opts.msa}, ${opts.durationS} s a run`,
  );
  const all: RunResult[] = [];
  const summaries: Summary[] = [];
  const rung = async (n: number): Promise<Summary> => {
    const runs: RunResult[] = [];
    for (let r = 0; r < opts.repeats; r++) {
      const run = await runOnce(n, brokers, brokerPid, config);
      const { delays: _d, ...shown } = run;
      say(JSON.stringify(shown));
      runs.push(run);
    }
    all.push(...runs);
    const s = summarise(runs);
    summaries.push(s);
    say(tableRow(s));
    return s;
  };

  let answer: Summary;
  if (flags.ladder) {
    let best: Summary | null = null;
    let failed: number | null = null;
    for (let n = opts.from; n <= opts.max; n += opts.step) {
      const s = await rung(n);
      if (!passes(s)) {
        failed = n;
        break;
      }
      best = s;
    }
    // The first rung failed: step down from it until one passes (not a search up from 0).
    if (best === null && failed !== null) {
      for (let n = failed - opts.step; n >= 1; n -= opts.step) {
        const s = await rung(n);
        if (passes(s)) {
          best = s;
          break;
        }
        failed = n;
      }
    }
    let step = opts.step / 2;
    while (failed !== null && step >= opts.step / 4) {
      const n = Math.round((best?.sessions ?? 0) + step);
      if (n >= failed || n < 1) break;
      const s = await rung(n);
      if (passes(s)) best = s;
      else failed = n;
      step /= 2;
    }
    answer = best ?? summaries[0]!;
    say(
      best ? `largest N holding p99 <= ${opts.targetP99} ms with nothing lost: ${best.sessions}` : `no rung held p99 <= ${opts.targetP99} ms with nothing lost`,
    );
  } else {
    answer = await rung(opts.sessions);
  }
  const sorted = [...summaries].sort((a, b) => a.sessions - b.sessions);
  process.stdout.write(`${TABLE_HEAD}\n${sorted.map(tableRow).join('\n')}\n`);
  const plotPath = resolve(flags.plot ?? join(here, 'out', 'load-latency.svg'));
  await writeHistogram(
    plotPath,
    sorted.map((s) => all.find((r) => r.sessions === s.sessions)!),
    flags.label,
  );
  say(`histogram: ${plotPath}`);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ runs: all.map(({ delays: _d, ...r }) => r) })}\n`);
    const pick = (({ sessions, windows_expected, windows_received, lost, p50_ms, p95_ms, p99_ms, pipeline_cpu_pct, broker_cpu_pct, rss_mb, lag_max }) => ({
      sessions,
      windows_expected,
      windows_received,
      lost,
      p50_ms,
      p95_ms,
      p99_ms,
      pipeline_cpu_pct,
      broker_cpu_pct,
      rss_mb,
      lag_max,
    }))(answer);
    process.stdout.write(`${JSON.stringify(pick)}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    say(`load bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
