/**
 * The pipeline's Prometheus metrics: views of the counters its stages already keep (the JSON
 * `/metrics.json` shows the same objects), plus two histograms observed as things happen:
 * the time from a window's close to its score being written, and the model's batch run time.
 * The README lists the names (Deploy, Metrics); the help texts here say what each means.
 */
import { Histogram, byLabel, statsCounter, statsGauge, type Registry, type Series } from '../metrics/registry.js';
import type { PipelineStats } from './pipeline.js';
import type { InputKind } from '../schemas/records.js';
import type { WorkerPoolStats } from '../workers/pool.js';
import type { VadStats } from '../speech/vad.js';

export interface PipelineInstruments {
  /** An input record reached the pipeline's decoder this long (ms) after its Kafka timestamp. */
  recordAge(kind: InputKind, ms: number): void;
  /** A model batch ran: its size, run time and how long its oldest window waited in the queue (ms). */
  batch(size: number, runMs: number, waitedMs: number): void;
  /** A score was written to Kafka and handed on, `ms` after its window closed. */
  scored(ms: number): void;
}

/** Seconds; windows close every hop (1 s by default), so the interesting range is 10 ms .. 30 s. */
const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/**
 * Registers the pipeline's metrics; `stats` is read on each scrape (null before the pipeline
 * started: counters read 0). Returns the instruments the pipeline observes.
 */
export function registerPipelineMetrics(registry: Registry, stats: () => PipelineStats | null): PipelineInstruments {
  const t = () => stats()?.transport;
  const w = () => stats()?.windows;
  const n = (v: number | undefined) => v ?? 0;
  const counter = (name: string, help: string, read: () => number | Series[], labelNames?: string[]) =>
    statsCounter(registry, { name: `msa_${name}`, help, read, labelNames });
  const gauge = (name: string, help: string, read: () => number | Series[], labelNames?: string[]) =>
    statsGauge(registry, { name: `msa_${name}`, help, read, labelNames });

  // Kafka source, sink and commits
  counter('kafka_records_consumed_total', 'Input records handed downstream by the Kafka source', () => n(t()?.consumed));
  counter('kafka_records_refused_total', 'Records fetched while the source buffer was full (served again later)', () => n(t()?.refused));
  counter('kafka_records_redelivered_total', 'Records served again after a rebalance and skipped', () => n(t()?.redelivered));
  counter('kafka_source_pauses_total', 'Times the source paused fetching because its buffer was full', () => n(t()?.paused));
  gauge('kafka_source_paused', '1 while the source has fetching paused', () => (t()?.isPaused ? 1 : 0));
  gauge('kafka_source_buffered_records', 'Records between the Kafka source and the windows now', () => n(t()?.buffered));
  gauge('kafka_source_buffered_bytes', 'Bytes of those records', () => n(t()?.bufferedBytes));
  counter('kafka_commits_total', 'Offset commits that succeeded', () => n(t()?.commits));
  counter('kafka_commit_errors_total', 'Offset commits that failed (the next one catches up)', () => n(t()?.commitErrors));
  counter('kafka_records_produced_total', 'Records written by the sink, per topic', () => byLabel('topic', t()?.produced ?? {}), ['topic']);
  counter('dead_letters_total', 'Records sent to the dead-letter topic (LATE: the late topic), per code', () => byLabel('code', t()?.deadLettered ?? {}), [
    'code',
  ]);
  counter('kafka_rebalances_total', 'Consumer group joins', () => n(t()?.rebalances));
  gauge(
    'kafka_consumer_lag',
    "Records of an input partition not yet committed by the pipeline's group (high watermark - committed offset)",
    () =>
      Object.entries(t()?.groupLag ?? {}).map(([key, v]): Series => {
        const cut = key.lastIndexOf('/');
        return [{ topic: key.slice(0, cut), partition: key.slice(cut + 1) }, v];
      }),
    ['topic', 'partition'],
  );
  counter('kafka_lag_poll_errors_total', 'Consumer lag polls that failed', () => n(t()?.groupLagErrors));

  // Windows
  counter('window_records_total', 'Input records seen by the windowing stage', () => n(w()?.records));
  counter('window_records_late_total', 'Records whose windows had all closed (late topic)', () => n(w()?.late));
  counter('window_records_rejected_total', 'Records refused by the windowing stage, per code', () => byLabel('code', w()?.rejectedByCode ?? {}), ['code']);
  counter('windows_closed_total', 'Windows closed and handed to scoring', () => n(w()?.windowsEmitted));
  counter('sessions_ended_total', 'Sessions flushed and freed (end of stream, idle, end of input)', () => n(w()?.expiredSessions));
  gauge('sessions_open', 'Sessions holding window state now', () => n(w()?.openSessions));
  gauge('window_buffered_records', 'Records held by open windows now', () => n(w()?.bufferedRecords));

  // Scoring
  counter('scores_total', 'Scores written to Kafka', () => n(stats()?.scores));
  counter('windows_unscored_total', 'Windows settled without a score, per reason', () => byLabel('reason', stats()?.unscoredWindows ?? {}), ['reason']);
  counter('model_batches_total', 'Model batches run', () => n(stats()?.batches));
  counter('model_batched_windows_total', 'Windows in those batches', () => n(stats()?.batchedWindows));
  gauge('pending_records', 'Input records not yet committable (in windows or being scored)', () => n(stats()?.pending));

  // Speech stage (absent when asr.mode is off: 0)
  const s = () => stats()?.speech;
  counter('speech_utterances_total', 'Utterances cut by the voice activity detector', () => n(s()?.utterances));
  counter('speech_segments_total', 'Transcript segments written by the recogniser', () => n(s()?.segments));
  counter('speech_fast_finals_total', 'Final utterances decoded greedily instead of with the beam (recogniser busy or others queued)', () =>
    n(s()?.fastFinals),
  );
  counter('speech_utterances_dropped_total', 'Utterances dropped because the recogniser queue was full', () => n(s()?.droppedUtterances));
  counter('speech_hold_timeouts_total', 'Windows that stopped waiting for their transcript', () => n(s()?.holdTimeouts));
  gauge('speech_queued_utterances', 'Utterances waiting for the recogniser now', () => n(s()?.queued));

  // Worker pools (model, face, voice-dsp, voice-encoder, voice-vad; a pool run in the event loop's thread has no series)
  const pools = (read: (s: WorkerPoolStats) => number) => (): Series[] => Object.entries(stats()?.workers ?? {}).map(([pool, s]) => [{ pool }, read(s)]);
  const poolMetrics: Array<[kind: 'gauge' | 'counter', name: string, help: string, field: keyof WorkerPoolStats]> = [
    ['gauge', 'worker_threads', 'Worker threads of a pool', 'workers'],
    ['gauge', 'worker_busy', 'Worker threads of a pool running a job now', 'busy'],
    ['gauge', 'worker_queued_jobs', 'Jobs waiting for a worker of the pool now', 'queued'],
    ['counter', 'worker_crashes_total', 'Worker threads that died (native crash, out of memory, terminate) and were replaced', 'crashes'],
    ['counter', 'worker_jobs_retried_total', 'Jobs run again on another worker after theirs died', 'retried'],
    ['counter', 'worker_jobs_failed_total', 'Jobs given up after a second worker died under them (their windows or frames go on without)', 'failed'],
  ];
  for (const [kind, name, help, field] of poolMetrics) {
    const read = pools((s) => s[field]);
    if (kind === 'gauge') gauge(name, help, read, ['pool']);
    else counter(name, help, read, ['pool']);
  }

  // Voice activity detection: graph calls and the chunks they ran, per stage (chunks / calls: the mean batch across sessions)
  const vadStats = () => Object.entries(stats()?.vad ?? {}).filter((e): e is [string, VadStats] => e[1] !== null);
  counter(
    'vad_graph_calls_total',
    'Silero VAD graph calls, per stage (speech, voice); each runs the waiting 32 ms chunks of many sessions',
    () => vadStats().map(([stage, v]): Series => [{ stage }, v.runs]),
    ['stage'],
  );
  counter('vad_chunks_total', 'Silero VAD chunks (32 ms of 16 kHz audio) run, per stage', () => vadStats().map(([stage, v]): Series => [{ stage }, v.chunks]), [
    'stage',
  ]);

  // Face analysis: what became of each video frame (0 while the model reads no faces)
  const v = () => stats()?.features.video;
  counter(
    'face_frames_total',
    "Video frames by outcome: analysed; stale (waited over features.faceMaxWaitMs); shed (64 waiting); failed; rate_skipped (within 250 ms of the session's last); from_edge (FEATURES frames)",
    () => [
      [{ outcome: 'analysed' }, n(v()?.analysed)],
      [{ outcome: 'stale' }, n(v()?.stale)],
      [{ outcome: 'shed' }, n(v()?.shed)],
      [{ outcome: 'failed' }, n(v()?.failed)],
      [{ outcome: 'rate_skipped' }, n(v()?.rateSkipped)],
      [{ outcome: 'from_edge' }, n(v()?.fromEdge)],
    ],
    ['outcome'],
  );

  const closeToScore = new Histogram({
    name: 'msa_window_close_to_score_seconds',
    help: "Time from a window's close (the watermark passed its end) to its score written to Kafka and handed to the WebSocket",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const batchTime = new Histogram({ name: 'msa_model_batch_seconds', help: 'Run time of one model batch', buckets: BATCH_BUCKETS, registers: [registry] });
  const batchSize = new Histogram({ name: 'msa_model_batch_size', help: 'Windows in one model batch', buckets: BATCH_SIZE_BUCKETS, registers: [registry] });
  const queueWait = new Histogram({
    name: 'msa_model_queue_wait_seconds',
    help: 'How long the oldest window of a model batch waited in the queue before the batch ran',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const recordAge = new Histogram({
    name: 'msa_input_record_age_seconds',
    help: "Time from an input record's Kafka timestamp (the producer's send, or the broker's append) to the pipeline decoding it, per input kind",
    labelNames: ['kind'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  // One child per kind, made once: this is observed for every input record.
  const ageOf = { audio: recordAge.labels('audio'), video: recordAge.labels('video'), transcript: recordAge.labels('transcript') };
  return {
    recordAge(kind, ms) {
      ageOf[kind].observe(Math.max(0, ms) / 1000);
    },
    batch(size, runMs, waitedMs) {
      batchTime.observe(runMs / 1000);
      batchSize.observe(size);
      queueWait.observe(Math.max(0, waitedMs) / 1000);
    },
    scored(ms) {
      closeToScore.observe(Math.max(0, ms) / 1000);
    },
  };
}
