/**
 * A kafkajs consumer as an Observable of raw records, with real backpressure.
 *
 * The source lends records to the pipeline and counts them until they are given back:
 * a record is *buffered* from the moment it is emitted until the pipeline calls
 * `release(record)`, which it must do exactly once per record, when the record has been taken
 * into the windows, dead-lettered or sent to the late topic (also for records of partitions
 * revoked meanwhile). At most `maxRecords` records and `maxBytes` bytes are out at once:
 *
 * - A fetched record that does not fit is refused: the batch loop stops there without resolving
 *   its offset, so kafkajs serves it again later; nothing beyond the bound is ever emitted
 *   (one record is always admitted into an empty buffer, so an oversized one cannot stall it).
 * - When the buffer is full, every subscribed topic is paused (`consumer.pause([{ topic }])`,
 *   topic-wide so partitions assigned by a later rebalance start paused too); kafkajs then stops
 *   fetching. When releases bring it to `resumeRatio` of both limits, the topics are resumed.
 *
 * - A stage further down (the model queue, the score writes) that falls behind calls
 *   `hold(reason, true)`: every topic is paused until all such holds are lifted
 *   (`hold(reason, false)`) and the buffer is drained. Overload then shows as consumer lag, which
 *   Kafka keeps, instead of memory.
 *
 * Memory held between Kafka and the windows is thus at most the buffer bounds plus kafkajs's own
 * fetch buffer (`maxBytes` of the consumer, see consumer.ts). Emission is synchronous inside
 * kafkajs's `eachBatch`, in slices of about 20 ms of work with a turn of the event loop between
 * them; a downstream that releases synchronously never fills the buffer.
 *
 * Offsets: kafkajs auto-commit is off. With a `tracker`, each record is tracked before it is
 * emitted, and the tracker keeps only the partitions assigned after each rebalance. After a
 * rebalance kafkajs fetches retained partitions again from the committed offset; records already
 * emitted are skipped (`redelivered`), since they are still in the pipeline.
 *
 * End offsets: the source keeps each assigned partition's end offset as last learnt (a fetched
 * batch's high watermark; the lag probe's measurement, `noteEndOffsets`) and forgets them when
 * the input stalls (a rebalance or rejoin, a consumer crash, `stalled()` when the broker went away
 * or came back). `behind(topic, partition)` says whether a partition may still hold records not
 * handed downstream; the windows do not count its modality idle meanwhile.
 *
 * Shutdown: `stop()` completes `records$` and pauses fetching but keeps the consumer in its
 * group, so the final commit can still run; then stop the committer, then disconnect the
 * consumer.
 *
 * @example
 * const source = createKafkaSource({ consumer, topics: ['audio'], tracker });
 * source.records$.pipe(
 *   map((raw) => decodeOrDeadLetter(raw)),   // release(raw) once windowed or dead-lettered
 * ).subscribe();
 */
import { Observable, Subject, type Subscriber } from 'rxjs';
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { silentLogger, type Logger } from '../../log.js';
import type { CommitTracker } from '../commitTracker.js';
import { partitionKey, rawRecordBytes, type RawRecord, type SourcePosition, type TopicPartition } from '../types.js';
import { createTransportStats, type TransportStats } from './stats.js';
import type { TransportHealth } from '../health.js';
import { backoffMs, sleep, type Backoff } from '../retry.js';

export interface KafkaSourceOptions {
  /** A connected consumer that is not running yet; the source subscribes it and runs it. */
  consumer: Consumer;
  topics: readonly string[];
  /** Where a group without committed offsets starts: the earliest offset (true) or the end. Default false. */
  fromBeginning?: boolean;
  /** Most records out (emitted, not released) at once. Default 2000. */
  maxRecords?: number;
  /** Most bytes (key + value) out at once. Default 64 MiB. */
  maxBytes?: number;
  /** Resume when both counts are at or below this fraction of their limits. Default 0.5. */
  resumeRatio?: number;
  /**
   * A batch is handed downstream in slices of about this many ms of synchronous work, with a turn
   * of the event loop between them (decoding, windowing and building model inputs run inside
   * `next`), so one large batch does not hold the event loop for its whole length. Default 20.
   */
  sliceMs?: number;
  tracker?: CommitTracker;
  /**
   * Awaited before the first record of a newly assigned partition is emitted (e.g. restoring the
   * score state of its sessions); heartbeats go on meanwhile. A rejection fails the source.
   */
  beforeAssigned?: (partition: TopicPartition) => Promise<void>;
  stats?: TransportStats;
  logger?: Logger;
  /** Told when the consumer crashes ('consumer') and when it has joined its group again. */
  health?: TransportHealth;
  /**
   * Waits before restarting a consumer that crashed and that kafkajs does not restart itself
   * (it restarts after retriable errors); default 300 ms growing to 5 s, for as long as it takes.
   */
  restartBackoff?: Backoff;
}

/** One rebalance as this consumer saw it. */
export interface Assignment {
  assigned: TopicPartition[];
  /** Partitions this consumer had before and not now. */
  revoked: TopicPartition[];
}

export interface KafkaSource {
  /** Raw records in partition order. Subscribe once: subscribing starts the consumer. */
  readonly records$: Observable<RawRecord>;
  /** Gives a record's buffer slot back. Idempotent; unknown positions are ignored. */
  release(position: SourcePosition): void;
  /**
   * Pauses fetching while `on` for `reason` (e.g. 'model', 'output'), however full the buffer is;
   * fetching resumes once no reason holds and the buffer is drained. Idempotent per reason.
   */
  hold(reason: string, on: boolean): void;
  /** No more records: completes `records$` and pauses fetching; the consumer stays in the group. */
  stop(): void;
  /** Partitions assigned to this consumer by the last rebalance. */
  assignment(): TopicPartition[];
  /** Every rebalance, after the tracker dropped the revoked partitions (synchronously, in the group-join event). */
  readonly assignments$: Observable<Assignment>;
  /** The offset after the last record handed downstream, per assigned partition that has one. */
  nextOffsets(): Map<string, bigint>;
  /**
   * Whether an assigned partition may still hold records this source has not handed downstream:
   * its end offset, as last learnt (a fetched batch's high watermark, or `noteEndOffsets`), is past
   * the next offset to hand over; or its end is not known since the input stalled (`stalled()`,
   * a rebalance, a consumer crash). The windows do not count a modality idle while its partition
   * is behind (Flink's rule: a split with records left is not idle). False for partitions not assigned.
   */
  behind(topic: string, partition: number): boolean;
  /** End offsets measured (by the lag probe) with a request sent at `sentAt` (epoch ms); `from` is where the group stands when nothing was handed over yet. */
  noteEndOffsets(sentAt: number, ends: ReadonlyArray<{ topic: string; partition: number; end: bigint; from: bigint }>): void;
  /** The input stalled (the broker away): every partition's end is unknown until learnt again. */
  stalled(): void;
  readonly stats: TransportStats;
}

const positionKey = (p: SourcePosition) => `${p.topic}/${p.partition}@${p.offset}`;

/** A partition whose end offset is not learnt again this long after a stall counts as caught up. */
const END_UNKNOWN_MAX_MS = 30_000;

function toRawRecord(topic: string, partition: number, message: KafkaMessage): RawRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    timestamp: Number(message.timestamp),
  };
}

export function createKafkaSource(options: KafkaSourceOptions): KafkaSource {
  const { consumer, tracker } = options;
  const topics = [...new Set(options.topics)];
  const maxRecords = options.maxRecords ?? 2000;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const ratio = options.resumeRatio ?? 0.5;
  const sliceMs = options.sliceMs ?? 20;
  if (topics.length === 0) throw new Error('a Kafka source needs at least one topic, got []');
  if (!Number.isInteger(maxRecords) || maxRecords < 1) throw new Error(`maxRecords must be a positive integer, got ${maxRecords}`);
  if (!(maxBytes >= 1)) throw new Error(`maxBytes must be >= 1, got ${maxBytes}`);
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`resumeRatio must be in [0, 1), got ${ratio}`);
  if (!(sliceMs >= 0)) throw new Error(`sliceMs must be >= 0, got ${sliceMs}`);
  const resumeRecords = Math.floor(maxRecords * ratio);
  const resumeBytes = Math.floor(maxBytes * ratio);
  const stats = options.stats ?? createTransportStats();
  const log = (options.logger ?? silentLogger).child({ component: 'kafka-source' });
  const health = options.health;
  const restartBackoff = options.restartBackoff ?? { initialMs: 300, maxMs: 5000 };
  /** Aborted on stop: ends our own restart loop. */
  const restarting = new AbortController();

  /** Records out, by position (count > 1 only if a revoked partition came back while its records were still out). */
  const outstanding = new Map<string, { bytes: number; count: number }>();
  /** Per assigned partition, the offset after the last record emitted. */
  const nextOffset = new Map<string, bigint>();
  let assigned: TopicPartition[] = [];
  const assignments$ = new Subject<Assignment>();
  /** Per assigned partition: the end offset last learnt, and where the group stood then if nothing was handed over yet. */
  const knownEnd = new Map<string, { end: bigint; from: bigint | null }>();
  /** Partitions whose end is not known since the input stalled, and when that was (epoch ms). */
  const unknownEnd = new Map<string, number>();
  const forgetEnds = () => {
    const at = Date.now();
    for (const tp of assigned) unknownEnd.set(partitionKey(tp), at);
  };
  /** Partitions assigned whose `beforeAssigned` has not finished: key -> its promise. */
  const preparing = new Map<string, Promise<void>>();
  let subscriber: Subscriber<RawRecord> | null = null;
  let subscribed = false;
  let stopped = false;
  let paused = false;
  /** Reasons downstream holds fetching for. */
  const holds = new Set<string>();

  const topicList = () => topics.map((topic) => ({ topic }));

  const fits = (bytes: number) => stats.buffered === 0 || (stats.buffered + 1 <= maxRecords && stats.bufferedBytes + bytes <= maxBytes);
  const full = () => stats.buffered >= maxRecords || stats.bufferedBytes >= maxBytes;
  const drained = () => stats.buffered <= resumeRecords && stats.bufferedBytes <= resumeBytes;

  function applyPause(): void {
    try {
      consumer.pause(topicList());
    } catch (err) {
      // Not running (yet or any more): nothing is being fetched anyway.
      log.debug({ err }, 'pause skipped');
    }
  }

  function pause(): void {
    if (paused) return;
    paused = true;
    stats.isPaused = true;
    stats.paused++;
    applyPause();
    log.debug({ buffered: stats.buffered, bufferedBytes: stats.bufferedBytes }, 'buffer full: fetching paused');
  }

  function resume(): void {
    if (!paused || stopped || holds.size > 0) return;
    paused = false;
    stats.isPaused = false;
    stats.resumed++;
    try {
      consumer.resume(topicList());
    } catch (err) {
      log.debug({ err }, 'resume skipped');
    }
    log.debug({ buffered: stats.buffered, bufferedBytes: stats.bufferedBytes }, 'buffer drained: fetching resumed');
  }

  function release(position: SourcePosition): void {
    const key = positionKey(position);
    const entry = outstanding.get(key);
    if (!entry) return;
    if (--entry.count === 0) outstanding.delete(key);
    stats.buffered--;
    stats.bufferedBytes -= entry.bytes;
    if (paused && drained()) resume();
  }

  function hold(reason: string, on: boolean): void {
    if (on === holds.has(reason)) return;
    if (on) {
      holds.add(reason);
      stats.holds[reason] = (stats.holds[reason] ?? 0) + 1;
      stats.heldBy = [...holds];
      log.debug({ reason }, 'downstream behind: fetching paused');
      pause();
    } else {
      holds.delete(reason);
      stats.heldBy = [...holds];
      log.debug({ reason }, 'downstream caught up');
      if (paused && drained()) resume();
    }
  }

  function admit(record: RawRecord, bytes: number): void {
    const key = positionKey(record);
    const entry = outstanding.get(key);
    if (entry) entry.count++;
    else outstanding.set(key, { bytes, count: 1 });
    stats.buffered++;
    stats.bufferedBytes += bytes;
    stats.maxBuffered = Math.max(stats.maxBuffered, stats.buffered);
    stats.maxBufferedBytes = Math.max(stats.maxBufferedBytes, stats.bufferedBytes);
  }

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const pkey = partitionKey({ topic, partition });
    knownEnd.set(pkey, { end: BigInt(batch.highWatermark), from: null });
    unknownEnd.delete(pkey);
    const ready = preparing.get(pkey);
    if (ready) {
      const beat = setInterval(() => void heartbeat().catch(() => undefined), 1000);
      try {
        await ready;
      } finally {
        clearInterval(beat);
      }
      if (preparing.get(pkey) === ready) preparing.delete(pkey);
    }
    let sliceStart = performance.now();
    for (const message of batch.messages) {
      if (stopped || !subscriber || !isRunning() || isStale()) return;
      if (holds.size > 0) {
        // Held downstream: left unresolved, fetched again from here once resumed.
        stats.refused++;
        return;
      }
      const offset = BigInt(message.offset);
      const next = nextOffset.get(pkey);
      if (next !== undefined && offset < next) {
        stats.redelivered++;
        resolveOffset(message.offset);
        continue;
      }
      const record = toRawRecord(topic, partition, message);
      const bytes = rawRecordBytes(record);
      if (!fits(bytes)) {
        // Left unresolved: kafkajs fetches it again from here once resumed.
        stats.refused++;
        pause();
        return;
      }
      admit(record, bytes);
      nextOffset.set(pkey, offset + 1n);
      tracker?.track(record);
      stats.consumed++;
      resolveOffset(message.offset);
      subscriber.next(record);
      if (full()) pause();
      await heartbeat();
      if (performance.now() - sliceStart >= sliceMs) {
        // Handing a batch over is one chain of microtasks; let timers and I/O (/healthz, the
        // WebSocket, Kafka's own) in between slices of it.
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
    // The whole batch was handed over: the offsets after its last message (transaction markers of
    // exactly-once writers) may be committed past once that message is done.
    if (batch.messages.length > 0) tracker?.passed({ topic, partition }, batch.lastOffset());
  }

  function onGroupJoin(memberAssignment: Record<string, number[]>): void {
    const next = Object.entries(memberAssignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })));
    const keep = new Set(next.map(partitionKey));
    const had = new Set(assigned.map(partitionKey));
    const revoked = assigned.filter((tp) => !keep.has(partitionKey(tp)));
    for (const key of [...nextOffset.keys()]) if (!keep.has(key)) nextOffset.delete(key);
    for (const key of [...preparing.keys()]) if (!keep.has(key)) preparing.delete(key);
    for (const key of [...knownEnd.keys()]) if (!keep.has(key)) knownEnd.delete(key);
    for (const key of [...unknownEnd.keys()]) if (!keep.has(key)) unknownEnd.delete(key);
    assigned = next;
    forgetEnds(); // a rejoin follows a stall or a rebalance: what arrived meanwhile is not known yet
    stats.rebalances++;
    stats.revokedPartitions += revoked.length;
    tracker?.retain(next);
    if (options.beforeAssigned) {
      for (const tp of next) {
        if (had.has(partitionKey(tp))) continue;
        const ready = options.beforeAssigned(tp);
        ready.catch((err: unknown) => subscriber?.error(err));
        preparing.set(partitionKey(tp), ready);
      }
    }
    health?.ok('consumer');
    // A consumer restarted after a crash has lost its pause state.
    if (paused || stopped) applyPause();
    log.info({ assigned: next.length, revoked: revoked.map(partitionKey) }, 'partitions assigned');
    assignments$.next({ assigned: next, revoked });
  }

  const records$ = new Observable<RawRecord>((sub) => {
    if (subscribed) {
      sub.error(new Error('a Kafka source can be subscribed only once (it runs its consumer); share() the stream instead'));
      return;
    }
    subscribed = true;
    subscriber = sub;
    // Kept for the consumer's life: a rebalance while the pipeline drains after stop() must
    // still drop revoked partitions from the tracker before the final commit.
    consumer.on(consumer.events.GROUP_JOIN, (e) => onGroupJoin(e.payload.memberAssignment));
    const runConsumer = () => consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch });
    // kafkajs restarts a consumer that crashed on a retriable error; one it does not restart
    // (e.g. it gave up rejoining a group whose coordinator stayed away) we restart, with backoff,
    // for as long as it takes. Records emitted before the crash are skipped when served again.
    const restart = async (cause: unknown) => {
      for (let attempt = 1; !stopped; attempt++) {
        const waitMs = backoffMs(restartBackoff, attempt);
        log.warn({ err: cause, attempt, waitMs }, `consumer stopped after a crash; restarting it in ${waitMs} ms`);
        if (!(await sleep(waitMs, restarting.signal)) || stopped) return;
        try {
          await consumer.connect();
          await runConsumer();
          stats.consumerRestarts++;
          return;
        } catch (err) {
          cause = err;
          health?.problem('consumer', `restarting the consumer failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    };
    const removeCrash = consumer.on(consumer.events.CRASH, (e) => {
      const err = e.payload.error;
      forgetEnds();
      health?.problem('consumer', `consumer crashed: ${err instanceof Error ? err.message : String(err)}`);
      if (e.payload.restart) log.warn({ err }, 'consumer crashed; kafkajs restarts it');
      else if (!stopped) void restart(err);
    });
    (async () => {
      await consumer.subscribe({ topics: [...topics], fromBeginning: options.fromBeginning ?? false });
      await runConsumer();
    })().catch((err: unknown) => subscriber?.error(err));
    return () => {
      stopped = true;
      subscriber = null;
      restarting.abort();
      removeCrash();
      applyPause();
    };
  });

  return {
    records$,
    release,
    hold,
    stop() {
      if (stopped) return;
      stopped = true;
      restarting.abort();
      applyPause();
      const sub = subscriber;
      subscriber = null;
      sub?.complete();
    },
    assignment: () => assigned.slice(),
    assignments$: assignments$.asObservable(),
    nextOffsets: () => new Map(nextOffset),
    behind(topic, partition) {
      const key = partitionKey({ topic, partition });
      const since = unknownEnd.get(key);
      // Unknown ends hold for at most END_UNKNOWN_MAX_MS (the lag probe failing for good must not hold forever).
      if (since !== undefined && Date.now() - since < END_UNKNOWN_MAX_MS) return true;
      const known = knownEnd.get(key);
      if (!known) return false;
      const next = nextOffset.get(key) ?? known.from;
      return next === null || next < known.end;
    },
    noteEndOffsets(sentAt, ends) {
      for (const { topic, partition, end, from } of ends) {
        const key = partitionKey({ topic, partition });
        if (!assigned.some((tp) => partitionKey(tp) === key)) continue;
        const since = unknownEnd.get(key);
        if (since !== undefined && sentAt < since) continue; // measured before the stall ended
        unknownEnd.delete(key);
        knownEnd.set(key, { end, from });
      }
    },
    stalled: forgetEnds,
    stats,
  };
}
