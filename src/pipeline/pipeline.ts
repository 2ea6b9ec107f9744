/**
 * The pipeline, assembled: Kafka input topics -> decode (bad -> dead-letter) -> per-session
 * windows (late -> late topic) -> scoring -> scores topic + WebSocket subscribers, with offsets
 * committed only for records whose windows have all been scored or that were diverted.
 * Beside the windows, the speech stage (speech/stage.ts, `asr.mode`) hears audio that comes
 * without a transcript and writes its segments to the transcript topic, holding the session's
 * windows until they are read back.
 *
 * Delivery (`kafka.delivery`): exactly-once by default. Scores, dead letters, late records and the
 * per-session changelog go out in Kafka transactions with the offsets of the records behind them
 * (transport/kafka/transactional.ts); read `scores` with read_committed. A record's offset becomes
 * committable once every window holding it was scored or it was diverted, so a restart re-reads
 * every record of every open window; the changelog (scoreState.ts, restored before a newly
 * assigned partition is read, restore.ts) says which windows were scored and the rolling score,
 * so a re-read record rebuilds no scored window and a replayed session's scores equal the first
 * run's. At least once: plain acknowledged writes, offsets committed after them.
 * Stopping does not flush open windows (that would score half-filled windows early); their records
 * stay uncommitted and are read again on restart.
 */
import { Subject, Subscription, bufferTime, concatMap, filter, map, merge, mergeMap, share, tap } from 'rxjs';
import type { InputKind, InputRecord } from '../schemas/records.js';
import type { RawRecord, SourcePosition } from '../transport/types.js';
import { connectPipelineTransport } from '../transport/kafka/index.js';
import type { ChangelogEntry } from '../transport/kafka/changelog.js';
import { sessionWindows } from '../windows/sessionWindows.js';
import { createWindowStats } from '../windows/windowStats.js';
import type { Positioned, SessionWindow as ScoringWindow, WindowEvent } from '../windows/types.js';
import { scoreWindows, type ScoringOutput } from './scoring.js';
import { loadPipelineFeatures } from '../features/stage.js';
import { createSpeechStage, type SpeechStage } from '../speech/stage.js';
import { loadSpeech } from '../speech/index.js';
import { loadVoice } from '../voice/index.js';
import { createPipelineVoiceStage, type VoiceStage } from '../voice/stage.js';
import { createSessionLedger } from '../scores/sessionLedger.js';
import { modalitiesRead } from '../model/manifest.js';
import { registerPipelineMetrics } from './metrics.js';
import { payloadsRead, voicePathOn } from './reads.js';
import { createDecodeStage } from './decodeStage.js';
import { createInFlight, createWindowClock } from './windowClock.js';
import { createScoreStateStore } from './scoreState.js';
import { createRestorer } from './restore.js';
import { createFailedWindowHandler } from './failedWindows.js';
import { startTombstoning, writeScoreGroup } from './scoreWrites.js';

export type { PipelineOptions, PipelineStats, Pipeline } from './types.js';
import type { PipelineOptions, PipelineStats, Pipeline } from './types.js';
import type { WorkerPoolStats } from '../workers/pool.js';

/** Frames waiting for face analysis at which the source pauses (the stage sheds past 64). */
const FACE_QUEUE_PAUSE_AT = 32;

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { config, model, onScore, onSessionEnded } = options;
  const log = options.logger.child({ component: 'pipeline' });
  const windowStats = createWindowStats();
  const stats = {
    scores: 0,
    unscoredWindows: {} as Record<string, number>,
    batches: 0,
    batchedWindows: 0,
    modalitiesUsed: { text: false, audio: false, video: false, windows: 0 },
    revokedWindows: 0,
    payloadsNotCopied: { audio: 0, video: 0 },
  };
  // Before connecting anything: a bad codebook or missing face models fail fast.
  // Extracts only what the model has codebooks for (see features.ts).
  const expired$ = new Subject<string>();
  // Sessions of revoked partitions: their state goes at once, with no end said (another instance has them).
  const forget$ = new Subject<string>();
  const features = await loadPipelineFeatures({
    manifest: model.manifest,
    windowSizeMs: config.windows.sizeMs,
    expired$: merge(expired$, forget$),
    logger: options.logger,
    faceWorkers: config.features.faceWorkers,
    faceMaxWaitMs: config.features.faceMaxWaitMs,
    faceDetector: config.features.faceDetector,
    voiceWorkers: config.features.voiceWorkers,
  });

  // The recogniser too: a model that is not installed fails here, naming what to install.
  const speechParts =
    options.speech !== undefined
      ? options.speech
      : await loadSpeech(config, options.logger).catch(async (err: unknown) => {
          await features.release();
          throw err;
        });
  // The voice reader too: a missing or invalid reader file fails here, naming the path.
  const voiceParts =
    options.voice !== undefined
      ? options.voice
      : await loadVoice(config, options.logger).catch(async (err: unknown) => {
          if (options.speech === undefined) await speechParts?.release();
          await features.release();
          throw err;
        });
  const releaseParts = async () => {
    await features.release(); // face worker threads
    if (options.speech === undefined) await speechParts?.release(); // a caller's parts are the caller's
    if (options.voice === undefined) await voiceParts?.release();
  };

  // Per-session score state (changelog), restored before a newly assigned partition is read.
  const store = createScoreStateStore();
  let readChangelog: (partitions: number[]) => Promise<ChangelogEntry[]> = () => Promise.reject(new Error('not connected'));
  const restorer = createRestorer({ store, read: (partitions) => readChangelog(partitions), logger: options.logger });
  const bus = await connectPipelineTransport({
    beforeAssigned: (tp) => restorer.beforeAssigned(tp),
    brokers: options.brokers,
    kafka: config.kafka,
    limits: config.limits,
    schemaRegistry: config.schemaRegistry,
    logger: options.logger,
    health: options.health,
  }).catch(async (err: unknown) => {
    await releaseParts();
    throw err;
  });
  const { topics, source, sink, tracker, committer, stats: transport } = bus;
  readChangelog = (partitions) => bus.changelog.read(partitions);
  // The windows' clock stands still while the broker is away; end offsets are learnt again after it (windowClock.ts).
  const windowClock = createWindowClock({ health: bus.health, source, measureEnds: () => void bus.lag.measure(), logger: log });
  // Hand-mapped ids, or the Schema Registry's. Input records are re-encoded only when a late or
  // rejected record goes to a side topic.
  const { codec } = bus;

  let failed: (err: unknown) => void = () => undefined;
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finished = resolve;
    failed = reject;
  });
  let stopping: Promise<void> | null = null;
  const fail = (err: unknown, what: string) => {
    if (stopping) return; // a retry cut short by stop()
    log.error({ err }, `pipeline failed: ${what}`);
    failed(err);
  };

  /** Writes a diverted record (dead-letter or late); its offset becomes committable once written (exactly-once: in that transaction). */
  const divert = (write: (settled: () => void) => Promise<unknown>, position: SourcePosition | undefined) => {
    write(() => tracker.settled(position)).then(
      () => undefined,
      (err: unknown) => fail(err, `could not write to the dead-letter or late topic (record ${JSON.stringify(position)} stays uncommitted)`),
    );
  };

  // What became of each session, said when it ends.
  const ledger = createSessionLedger(modalitiesRead(model.manifest));

  // Hears sessions without a transcript; its segments come back through the transcript topic.
  const speech: SpeechStage | null = speechParts
    ? createSpeechStage({
        mode: config.asr.mode === 'always' ? 'always' : 'auto',
        recognizers: speechParts.recognizers,
        recognizerFor: speechParts.recognizerFor,
        newCutter: speechParts.newCutter,
        send: (segments) => sink.send(topics.transcript, 'transcript', segments),
        maxBatch: config.asr.maxBatch,
        maxQueued: config.asr.maxQueued,
        maxSessions: config.asr.maxSessions,
        holdTimeoutMs: config.asr.holdTimeoutMs,
        interimMs: config.asr.interimMs,
        onError: (err) => fail(err, 'speech recognition'),
        logger: options.logger,
      })
    : null;

  // Reads how each session's audio sounds; each window's score waits for its voice value.
  const voice: VoiceStage | null = voiceParts ? createPipelineVoiceStage(config, voiceParts, options.logger, (err) => fail(err, 'voice reader')) : null;
  let voiceShed = 0;

  // Worker pools by name, read when the stats are.
  const workerPools = (): Record<string, WorkerPoolStats> => {
    const modelPool = model.session.stats?.();
    return { ...(modelPool ? { model: modelPool } : {}), ...features.workers(), ...(voiceParts?.workers?.() ?? {}) };
  };
  const pipelineStats = (): PipelineStats => ({
    transport,
    windows: windowStats,
    ...stats,
    features: features.stats,
    speech: speech?.stats() ?? null,
    voice: voice ? { ...voice.stats(), shedWindows: voiceShed } : null,
    pending: tracker.stats.pending,
    workers: workerPools(),
    vad: { speech: speechParts?.vad ?? null, voice: voiceParts?.vad ?? null },
  });
  const instruments = options.registry ? registerPipelineMetrics(options.registry, pipelineStats) : null;

  // Bytes of records taken into the windows are not kept; a late or rejected record is re-encoded.
  const rawOf = (record: Positioned<InputRecord>): RawRecord => ({
    ...(record.position ?? { topic: topics[record.value.kind], partition: -1, offset: '-1' }),
    key: Buffer.from(record.value.value.sessionId),
    value: codec.encode(record.value.value, record.value.kind),
    timestamp: record.value.value.eventTime,
  });

  const deadLetterFailed = createFailedWindowHandler({ sink, tracker, fail });
  const onWindowFailed = (window: ScoringWindow, err: unknown) => {
    stats.unscoredWindows.failed = (stats.unscoredWindows.failed ?? 0) + 1;
    ledger.unscored(window.sessionId, 'failed');
    log.warn(
      { err, sessionId: window.sessionId, windowEnd: window.end },
      'a window could not be scored; its records go to the dead-letter topic (PROCESSING_FAILED)',
    );
    deadLetterFailed(window, err);
  };

  // Payloads no stage reads are not copied out of the Kafka buffers (pipeline/reads.ts).
  const reads = payloadsRead({ manifest: model.manifest, speechStage: speech !== null, voicePath: voicePathOn(config) });
  // Decode; a bad record goes to the dead-letter topic with topic, partition, offset and reason.
  const decoding = createDecodeStage({
    bus,
    divert,
    reads,
    speech,
    voice,
    ...(instruments ? { recordAge: (kind: InputKind, ms: number) => instruments.recordAge(kind, ms) } : {}),
    payloadsNotCopied: stats.payloadsNotCopied,
    log,
  });
  const decoded$ = decoding.decoded$;

  // Rebalance: partition numbers this instance no longer owns (co-partitioned: in every input topic).
  const revoked$ = source.assignments$.pipe(
    map(({ assigned, revoked }) => {
      const kept = new Set(assigned.map((tp) => tp.partition));
      return [...new Set(revoked.map((tp) => tp.partition))].filter((p) => !kept.has(p));
    }),
    filter((partitions) => partitions.length > 0),
  );
  // A window in flight (queued for the model, being written) when its partition was revoked is not
  // written: each window is stamped with its partition's ownership epoch, bumped on every revoke.
  const epochs = new Map<number, number>();
  const stamps = new WeakMap<readonly SourcePosition[], number>();
  const partitionOf = (positions: readonly SourcePosition[]) => positions[0]?.partition;
  const stale = (positions: readonly SourcePosition[]) => {
    const p = partitionOf(positions);
    return p !== undefined && stamps.get(positions) !== (epochs.get(p) ?? 0);
  };

  // Only a model reading audio or video has feature work that can hold a record back.
  const inFeatures = createInFlight(features.uses.audio || features.uses.video);
  const events$ = decoded$.pipe(
    inFeatures.enter,
    features.extract, // computed once per record, each session's order kept
    inFeatures.leave,
    sessionWindows(
      {
        ...config.windows,
        stats: windowStats,
        hold: speech,
        revoked: revoked$,
        inputBehind: (kind, p) => source.behind(topics[kind], p) || inFeatures.holds(kind, p),
        restored: (id) => store.get(id)?.lastWindowEnd,
      },
      windowClock.clock,
    ),
    share(),
  );

  const onEvent = (e: WindowEvent) => {
    switch (e.type) {
      case 'assigned':
        tracker.joined(e.position, e.windows);
        if (e.position) source.release(e.position);
        break;
      case 'late':
        if (e.record.position) source.release(e.record.position);
        divert((settled) => sink.late(rawOf(e.record), e.reason, e.record.value.value.sessionId, settled), e.record.position);
        break;
      case 'rejected':
        if (e.record.position) source.release(e.record.position);
        divert((settled) => sink.deadLetter(rawOf(e.record), e.code, e.reason, e.record.value.value.sessionId || null, settled), e.record.position);
        break;
      case 'expired':
        expired$.next(e.sessionId);
        break;
      case 'revoked':
        for (const p of e.partitions) epochs.set(p, (epochs.get(p) ?? 0) + 1);
        restorer.revoked(e.partitions);
        for (const id of e.sessionIds) {
          forget$.next(id);
          speech?.forget(id);
          voice?.forget(id);
        }
        log.info({ partitions: e.partitions, sessions: e.sessionIds.length }, 'partitions revoked: their sessions dropped without output');
        break;
      case 'window': {
        const w = e.window;
        const p = partitionOf(w.positions);
        if (p !== undefined) stamps.set(w.positions, epochs.get(p) ?? 0);
        const machine = speech !== null && w.transcript.some((t) => t.origin !== null && speech.origins.has(t.origin) && t.text.trim() !== '');
        ledger.window(w.sessionId, { text: w.transcript.some((t) => t.text.trim() !== ''), audio: w.audio.length > 0, video: w.video.length > 0 }, machine);
        break;
      }
    }
  };

  // Backpressure: the model queue pauses the source at batching.pauseAt windows (onPressure). Windows
  // still close from records already taken in after that, so the hard bound sits well above it.
  const maxQueued = Math.max(16 * config.batching.maxBatchSize, 8 * config.limits.maxBufferedRecords, 4 * config.batching.pauseAt);
  // Scores waiting to be written to Kafka and published: past this, the source pauses too.
  const outputPauseAt = 4 * config.batching.pauseAt;
  let writing = 0;
  const holdOutput = () => {
    if (writing >= outputPauseAt) source.hold('output', true);
    else if (writing <= outputPauseAt / 2) source.hold('output', false);
  };
  const writeParts = { sink, tracker, store, changelogTopic: bus.changelog.topic };
  const scored$ = events$.pipe(
    filter((e): e is Extract<WindowEvent, { type: 'window' }> => e.type === 'window'),
    map((e) => e.window),
    scoreWindows({
      tokenizer: model.tokenizer,
      maxTextTokens: model.manifest.maxTextTokens,
      maxWords: config.limits.maxWordsPerWindow,
      onFailed: onWindowFailed,
      padIndex: model.manifest.padIndex,
      nonVerbal: features.nonVerbal, // undefined when the model names no codebooks
      runModel: (inputs) => model.session.run(inputs),
      modelVersion: model.version,
      // One batch in flight per model worker at least, or the workers would take turns.
      batching: { ...config.batching, maxQueued, maxInFlight: Math.max(config.batching.maxInFlight, config.model.workers) },
      rolling: { smoothing: config.scores.smoothing, neutralBand: config.scores.neutralBand, expired: expired$, restore: (id) => store.get(id) },
      onUnscored: (window, reason) => {
        stats.unscoredWindows[reason] = (stats.unscoredWindows[reason] ?? 0) + 1;
        if (stale(window.positions)) return; // its partition was revoked meanwhile: not ours to settle
        ledger.unscored(window.sessionId, reason);
        tracker.windowDone(window.positions);
      },
      onBatch: (info) => {
        stats.batches++;
        stats.batchedWindows += info.size;
        instruments?.batch(info.size, info.runMs, info.waitedMs);
      },
      onUsed: (used) => {
        stats.modalitiesUsed.windows++;
        stats.modalitiesUsed.text ||= used.text;
        stats.modalitiesUsed.audio ||= used.audio;
        stats.modalitiesUsed.video ||= used.video;
      },
      onPressure: (behind) => source.hold('model', behind),
      forget: forget$,
      voice: voice
        ? {
            windowVoice: (w) => voice.windowVoice(w.sessionId, w.start, w.end),
            weight: voiceParts!.served.weight,
            onShed: (w) => {
              voiceShed++;
              log.warn(
                { sessionId: w.sessionId, windowEnd: w.end },
                'window scored without waiting for its voice value: too many windows wait (batching.maxQueued)',
              );
            },
          }
        : undefined,
    }),
    tap(() => {
      writing++;
      holdOutput();
    }),
    // Write scores in small groups, in order; only then publish them and settle their records.
    bufferTime(10, null, 256),
    filter((group) => group.length > 0),
    // Exactly-once: writes are queued in order and resolve in order, a transaction at a time, so
    // groups need not wait for each other; at least once, each group's sends finish before the next.
    (bus.delivery === 'exactly-once' ? mergeMap : concatMap)(async (all: ScoringOutput[]) => {
      // A window whose partition was revoked while it was in flight is not written (the new owner scores it).
      const group = all.filter((s) => {
        if (s.kind !== 'score' || !stale(s.positions)) return true;
        stats.revokedWindows++;
        return false;
      });
      const scored = await writeScoreGroup(writeParts, group);
      for (const s of group) {
        if (s.kind === 'ended') {
          voice?.end(s.sessionId); // its last score went out: the voice state goes
          const speechFacts = { on: speech !== null, leftToOther: speech?.leftToOther(s.sessionId) ?? false };
          onSessionEnded?.(s.sessionId, ledger.end(s.sessionId, speechFacts));
          continue;
        }
        stats.scores++;
        instruments?.scored(Date.now() - (s.score.emittedAt - s.score.latencyMs));
        ledger.scored(s.score);
        onScore?.(s.score, s.reached);
      }
      writing -= all.length;
      holdOutput();
      return scored.map((s) => s.score);
    }),
    concatMap((scores) => scores),
    share(),
  );

  const subscription = new Subscription();
  subscription.add(events$.subscribe({ next: onEvent, error: (err) => fail(err, 'windows') }));
  subscription.add(
    scored$.subscribe({
      error: (err) => fail(err, 'scoring'),
      complete: () => finished(),
    }),
  );
  subscription.add(source.records$.subscribe({ next: decoding.next, error: (err) => fail(err, 'Kafka source'), complete: decoding.complete }));
  committer.start();
  bus.lag.start();
  const stopTombstoning = startTombstoning(writeParts, transport.committed, log);
  // Face analysis sheds frames past its queue bound; pause the source before it gets there.
  const faceQueue = features.stats.video.queue;
  const featurePressure = features.uses.video
    ? setInterval(() => {
        const waiting = faceQueue.queued;
        if (waiting >= FACE_QUEUE_PAUSE_AT) source.hold('features', true);
        else if (waiting <= FACE_QUEUE_PAUSE_AT / 2) source.hold('features', false);
      }, 20)
    : null;
  featurePressure?.unref();
  log.info({ topics, model: model.version, provider: model.session.provider }, 'pipeline started');

  const stop = () =>
    (stopping ??= (async () => {
      bus.stopRetrying();
      subscription.unsubscribe();
      if (featurePressure) clearInterval(featurePressure);
      windowClock.close();
      stopTombstoning();
      source.stop();
      await speech?.close();
      await voice?.close();
      await releaseParts();
      try {
        const last = await committer.stop();
        log.info({ committed: last }, 'final offsets committed');
      } catch (err) {
        log.warn({ err }, 'final commit failed; uncommitted records will be read again');
      }
      await bus.close();
      finished();
      log.info('pipeline stopped');
    })());

  return { topics, scores$: scored$, done, problems: () => bus.health.problems(), stats: pipelineStats, stop };
}
