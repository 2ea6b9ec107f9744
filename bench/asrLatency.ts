/**
 * Speech recognition under live load: N concurrent audio-only sessions, paced in real time, through
 * the real service (Kafka, the speech stage with Whisper and Silero VAD, windows, the served model).
 * Each session is about `--seconds` of espeak-ng renderings of MOSI dev utterances (several voices
 * and rates) with 0.8 s pauses, sent as 100 ms chunks of 16 kHz PCM. For each level of concurrency
 * (a fresh service each):
 *   - utterance end -> its segment read back from the transcript topic (the speech stage's
 *     `latencyMs`: from when the audio holding the utterance's last sample arrived), p50 / p95 / max;
 *   - window end -> its score, for windows whose words were heard (score emittedAt minus the wall
 *     time the window's last audio was sent), p50 / p95;
 *   - recogniser busy share (recogniser seconds / wall seconds), hold timeouts, late records.
 * The largest N whose p95 segment latency is <= 2 s is reported. Writes bench/results/asr-latency.json
 * and a latency histogram (bench/results/asr-latency.svg).
 *
 *   node --import tsx bench/asrLatency.ts [--sessions 1,3,5,8] [--seconds 30] [--threads 2] [--beam N (config asr.liveBeamSize)]
 *     [--detect-narrowband on|off (config asr.vad.detectNarrowband; on: each session's audio is held until its band is known, about 2 s)]
 * Uses KAFKA_BROKERS, or starts the project's broker (msa kafka start) when none is set.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { cacheDirOf, loadConfig } from '../src/config/config.js';
import { brokerOptionsFromConfig, brokersFromEnvOrStart } from '../src/broker/index.js';
import { createLogger, silentLogger } from '../src/log.js';
import { openRecordSender } from '../src/ingest/kafkaSender.js';
import { startService } from '../src/pipeline/service.js';
import type { AudioChunk, Score } from '../src/schemas/records.js';
import { decodeSpeech } from '../src/speech/audio.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: flags } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1,3,5,8' },
    seconds: { type: 'string', default: '30' },
    threads: { type: 'string', default: '2' },
    beam: { type: 'string' },
    'detect-narrowband': { type: 'string', default: 'on' },
  },
});
if (!['on', 'off'].includes(flags['detect-narrowband'])) throw new RangeError(`--detect-narrowband: on or off, got ${flags['detect-narrowband']}`);
const detectNarrowband = flags['detect-narrowband'] === 'on';
const levels = flags.sessions.split(',').map((x) => {
  const n = Number(x);
  if (!Number.isSafeInteger(n) || n < 1 || n > 64) throw new RangeError(`--sessions: each level must be an integer in 1..64, got ${x}`);
  return n;
});
const seconds = Number(flags.seconds);
if (!(seconds >= 5 && seconds <= 600)) throw new RangeError(`--seconds must be in 5..600, got ${flags.seconds}`);
const threads = Number(flags.threads);

const RATE = 16_000;
const CHUNK_MS = 100;
const PAUSE_MS = 800;

const pct = (xs: number[], p: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** One session's audio: utterances of the espeak MOSI dev set (manifest order from `offset`), with pauses. */
async function sessionAudio(paths: string[], offset: number): Promise<Int16Array> {
  const parts: Float32Array[] = [];
  let total = 0;
  for (let i = 0; total < seconds * RATE; i++) {
    const pcm = await decodeSpeech(paths[(offset + i) % paths.length]!);
    parts.push(pcm, new Float32Array((PAUSE_MS * RATE) / 1000));
    total += pcm.length + (PAUSE_MS * RATE) / 1000;
  }
  const out = new Int16Array(total);
  let at = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) out[at + i] = Math.max(-32768, Math.min(32767, Math.round(p[i]! * 32768)));
    at += p.length;
  }
  return out;
}

async function main(): Promise<void> {
  const log = createLogger('warn', 'bench-asr');
  const base = loadConfig({ env: process.env });
  const manifest = join(cacheDirOf(base), 'asr', 'mosi-dev-espeak', 'manifest.csv');
  const rows = (
    await readFile(manifest, 'utf8').catch(() => {
      throw new Error(`${manifest} not found: render the MOSI dev set first (python -m training.whisper.espeak_mosi)`);
    })
  )
    .trim()
    .split('\n')
    .slice(1);
  const paths = rows.map((r) => r.split(',')[3]!);
  const broker = await brokersFromEnvOrStart(brokerOptionsFromConfig(base), log);
  console.log(
    `bench/asrLatency: ${levels.join(', ')} concurrent sessions of ~${seconds} s, Whisper ${base.asr.model}, ${threads} ORT threads, live beam ${flags.beam ?? base.asr.liveBeamSize}, band probe ${flags['detect-narrowband']}`,
  );
  console.log(`machine: ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)} at start`);
  const audios: Int16Array[] = [];
  for (let i = 0; i < Math.max(...levels); i++) audios.push(await sessionAudio(paths, i * 7));

  const results = [];
  for (const n of levels) {
    const run = randomUUID().slice(0, 6);
    const config = loadConfig({
      env: process.env,
      overrides: {
        logLevel: 'silent',
        kafka: { brokers: broker.brokers, topicPrefix: `bench-asr-${run}.`, groupId: `bench-asr-${run}` },
        ws: { port: 0 },
        asr: { mode: 'always', threads, vad: { detectNarrowband }, ...(flags.beam ? { liveBeamSize: Number(flags.beam) } : {}) },
        voice: { enabled: false }, // the recogniser alone (the voice path: bench/voice.ts)
      },
    });
    const service = await startService({ config, brokers: broker.brokers, logger: silentLogger, sample: null });
    const sender = await openRecordSender({ config, brokers: broker.brokers, logger: silentLogger });
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    const sentAt = new Map<string, number>(); // session -> wall time its event time t0 was sent
    const scores: Score[] = [];
    const sub = service.pipeline.scores$.subscribe((s) => scores.push(s));
    const started = Date.now();
    const sessions = Array.from({ length: n }, (_, i) => `bench-${run}-${i}`);
    await Promise.all(
      sessions.map(async (sessionId, i) => {
        const pcm = audios[i]!;
        const per = (RATE * CHUNK_MS) / 1000;
        const count = Math.ceil(pcm.length / per);
        const begin = Date.now() + i * 37; // sessions a little apart, as calls are
        sentAt.set(sessionId, begin);
        for (let k = 0; k < count; k++) {
          const due = begin + k * CHUNK_MS;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const slice = pcm.subarray(k * per, (k + 1) * per);
          const chunk: AudioChunk = {
            sessionId,
            seq: k,
            eventTime: t0 + k * CHUNK_MS,
            sampleRate: RATE,
            encoding: 'S16LE',
            samples: Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength),
            endOfStream: k === count - 1,
          };
          await sender.send('audio', [chunk]);
        }
      }),
    );
    const fed = Date.now();
    // Drain: every session's transcript read back and its windows scored.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const st = service.pipeline.stats();
      if ((st.speech!.queued === 0 && st.pending === 0 && st.windows.openSessions === 0) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const wall = (Date.now() - started) / 1000;
    const st = service.pipeline.stats();
    const speech = st.speech!;
    const scoreLatency = scores
      .filter((s) => s.modalitiesUsed?.text && sentAt.has(s.sessionId))
      .map((s) => s.emittedAt - (sentAt.get(s.sessionId)! + (s.windowEnd - t0)));
    const r = {
      sessions: n,
      audioSeconds: +speech.audioSeconds.toFixed(1),
      utterances: speech.utterances,
      segments: speech.segments,
      segmentLatencyMs: { p50: pct(speech.latencyMs, 50), p95: pct(speech.latencyMs, 95), max: pct(speech.latencyMs, 100) },
      scoreLatencyMs: { p50: pct(scoreLatency, 50), p95: pct(scoreLatency, 95), n: scoreLatency.length },
      recognizerBusy: +(speech.recognizerSeconds / wall).toFixed(2),
      batches: speech.batches,
      meanBatch: +(speech.utterances / Math.max(1, speech.batches)).toFixed(2),
      holdTimeouts: speech.holdTimeouts,
      interims: speech.interimSegments,
      fastFinals: speech.fastFinals,
      late: st.windows.late,
      drainSeconds: +((Date.now() - fed) / 1000).toFixed(1),
      load: +loadavg()[0]!.toFixed(2),
      latencies: speech.latencyMs,
    };
    results.push(r);
    console.log(
      `${String(n).padStart(3)} sessions: ${r.segments} segments, utterance end -> segment p50 ${r.segmentLatencyMs.p50} ms p95 ${r.segmentLatencyMs.p95} ms max ${r.segmentLatencyMs.max} ms; ` +
        `window end -> score p50 ${r.scoreLatencyMs.p50} ms p95 ${r.scoreLatencyMs.p95} ms (n ${r.scoreLatencyMs.n}); recogniser busy ${Math.round(r.recognizerBusy * 100)} %, ` +
        `mean batch ${r.meanBatch}, interims ${r.interims}, finals asked to decode fast (greedy) ${r.fastFinals}, hold timeouts ${r.holdTimeouts}, late ${r.late}, load ${r.load}`,
    );
    sub.unsubscribe();
    await sender.close();
    await service.stop();
  }
  const held = results.filter((r) => (r.segmentLatencyMs.p95 ?? Infinity) <= 2000).map((r) => r.sessions);
  console.log(
    `largest level with p95 utterance end -> segment <= 2 s: ${held.length > 0 ? Math.max(...held) : 'none'} sessions (levels tried: ${levels.join(', ')})`,
  );
  await mkdir(join(here, 'results'), { recursive: true });
  await writeFile(
    join(here, 'results', 'asr-latency.json'),
    JSON.stringify({ at: new Date().toISOString(), cores: cpus().length, seconds, threads, results }, null, 2),
  );
  await writeFile(join(here, 'results', 'asr-latency.svg'), histogramSvg(results));
  console.log('wrote bench/results/asr-latency.json and asr-latency.svg');
  if (broker.started && !broker.external) console.log('(the broker this bench started keeps running: msa kafka stop)');
  process.exit(0);
}

/** Latency histograms, one row per concurrency level, 100 ms bins up to 4 s (a plain SVG: no chart library needed for bars). */
function histogramSvg(results: { sessions: number; latencies: number[] }[]): string {
  const BIN = 100;
  const BINS = 40;
  const W = 640;
  const H = 90;
  const rows = results.map((r, i) => {
    const counts = new Array<number>(BINS).fill(0);
    for (const l of r.latencies) counts[Math.min(BINS - 1, Math.floor(l / BIN))]!++;
    const top = Math.max(1, ...counts);
    const y0 = i * (H + 20) + 20;
    const bars = counts
      .map(
        (c, b) =>
          `<rect x="${40 + b * ((W - 60) / BINS)}" y="${y0 + H - (c / top) * H}" width="${(W - 60) / BINS - 1}" height="${(c / top) * H}" fill="#4a78b5"/>`,
      )
      .join('');
    const limit = `<line x1="${40 + (2000 / BIN) * ((W - 60) / BINS)}" x2="${40 + (2000 / BIN) * ((W - 60) / BINS)}" y1="${y0}" y2="${y0 + H}" stroke="#c33" stroke-dasharray="3"/>`;
    return `<text x="4" y="${y0 + 12}" font-size="11">${r.sessions}</text>${bars}${limit}`;
  });
  const height = results.length * (H + 20) + 40;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif">` +
    `<text x="40" y="12" font-size="12">utterance end -> segment read back (ms), 100 ms bins, 0..4 s; rows: concurrent sessions; red: 2 s</text>` +
    rows.join('') +
    `<text x="40" y="${height - 6}" font-size="11">0</text><text x="${W - 40}" y="${height - 6}" font-size="11">4000+</text></svg>\n`
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
