/**
 * Exactly-once output (`kafka.delivery: exactly-once`): everything the pipeline writes (scores,
 * dead letters, late records, the changelog, recognised transcripts) and the input offsets it has
 * consumed go to Kafka in one transaction, a batch every `intervalMs`. A consumer that reads with
 * `read_committed` (kafkajs's default) sees a batch's records only once its offsets are committed
 * too, so a crash before the commit re-reads those records and writes their outputs again, and the
 * aborted copies are never seen: each output is seen once.
 *
 * Order inside a flush: the writes queued since the last one are taken; each one's `onIncluded`
 * runs (the pipeline settles the records behind them in the commit tracker); only then is
 * `committable()` read, so the offsets committed are exactly those whose outputs are in this
 * transaction or an earlier one. A flush with no writes still commits offsets that moved (records
 * settled without output). A transaction that fails is aborted and tried again with the same
 * writes and offsets (none of them visible: it was aborted), with backoff, for as long as the
 * broker is away. After a failure the next try starts from a new producer with the same
 * transactional id (`createProducer`): kafkajs leaves a producer whose commit or abort failed in a
 * state it cannot leave, and the broker aborts a transaction that outlived
 * `kafka.transactionTimeoutMs` (an outage) and bumps the epoch; initialising the id again aborts
 * whatever was left open. A producer fenced or expired `MAX_RENEWALS` times in a row (another
 * live instance uses the same transactional id) fails the pipeline.
 *
 * A commit whose answer never came (the broker went away in the middle of EndTxn) is in doubt:
 * the coordinator may have logged it, and initialising the transactional id again then completes
 * it, so sending the same writes again would show them twice. Every transaction therefore commits
 * its offsets with its own id in the offset metadata (a transaction with writes but no offset that
 * moved commits one partition's unchanged offset, as a marker); after a commit in doubt, once the
 * new producer is initialised (the old transaction is then finished one way or the other), the
 * group's committed metadata says which way: this transaction's id there means it committed, and
 * its writes are done; anything else means it was aborted, and they are sent again.
 *
 * It stands in for the periodic committer (same interface): `stop()` flushes what is queued.
 */
import type { Message, Producer } from 'kafkajs';
import { silentLogger, type Logger } from '../../log.js';
import type { CommitTracker } from '../commitTracker.js';
import { randomUUID } from 'node:crypto';
import { partitionKey, type TopicPartition, type TopicPartitionOffset } from '../types.js';
import type { TransportHealth } from '../health.js';
import { retryUntilDone, type Backoff } from '../retry.js';
import { isRetriableKafkaError } from './client.js';
import { createTransportStats, type TransportStats } from './stats.js';
import type { Committer } from './committer.js';
import { periodicFlush } from '../periodicFlush.js';

export interface TransactionalWriter {
  /**
   * Queues messages for the next transaction; resolves once it committed. `onIncluded` runs when
   * the flush takes them, before the offsets are read (settle the records behind them there).
   */
  write(topic: string, messages: Message[], onIncluded?: () => void): Promise<void>;
}

export interface TransactionalOutput extends Committer, TransactionalWriter {
  /**
   * Transactions committed and aborted (retried), producers made anew after a failure, commits in
   * doubt (no answer), and of those the ones found committed (their writes not sent again).
   */
  readonly transactions: { committed: number; aborted: number; renewed: number; inDoubt: number; inDoubtCommitted: number };
  /** Disconnects the producer in use (after `stop()`). */
  close(): Promise<void>;
}

/** Failed transactions in a row after which an error no retry fixes (fenced, expired) fails the pipeline. */
const MAX_RENEWALS = 5;

/** The producer's epoch is gone (fenced or its transaction expired), or kafkajs's transaction state is stuck: a new producer helps. */
function renewable(err: unknown): boolean {
  const e = err as { type?: unknown; name?: unknown; message?: unknown };
  if (e.type === 'INVALID_PRODUCER_EPOCH' || e.type === 'PRODUCER_FENCED' || e.type === 'INVALID_TXN_STATE') return true;
  return e.name === 'KafkaJSNonRetriableError' && /transaction|Invalid state/i.test(String(e.message));
}

export interface TransactionalOutputOptions {
  /** A connected producer made with a `transactionalId` ({@link transactionalProducerOptions}). */
  producer: Pick<Producer, 'transaction'> & Partial<Pick<Producer, 'disconnect'>>;
  /** Makes a new (unconnected) producer with the same transactional id, to go on after a failed transaction. */
  createProducer?: () => Pick<Producer, 'transaction' | 'connect' | 'disconnect'>;
  /** The consumer group whose offsets are committed with each transaction. */
  groupId: string;
  /**
   * The metadata of the group's committed offset of a partition (admin fetchOffsets), to settle a
   * commit in doubt; without it such a transaction is sent again (and may show twice).
   */
  committedMetadata?: (tp: TopicPartition) => Promise<string | null>;
  tracker: Pick<CommitTracker, 'committable'>;
  /** Milliseconds between transactions; default 100. */
  intervalMs?: number;
  /** Most bytes of one request inside a transaction (several requests make up a larger one); default {@link MAX_SEND_BYTES}. */
  maxSendBytes?: number;
  stats?: TransportStats;
  logger?: Logger;
  health?: TransportHealth;
  backoff?: Backoff;
  /** Ends the retrying (on stop). */
  signal?: AbortSignal;
}

interface Pending {
  topic: string;
  messages: Message[];
  onIncluded?: () => void;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Most bytes (keys, values, headers) of one transaction's request. kafkajs makes one record batch
 * per partition of a request, and the broker refuses a batch over its `message.max.bytes` (1 MB by
 * default) with MESSAGE_TOO_LARGE, which no retry fixes: 626 late audio records (3.2 KB each) in
 * one transaction once failed the pipeline that way (README, Load). Half of it leaves room for
 * the per-record overhead.
 */
export const MAX_SEND_BYTES = 512 * 1024;

const sizeOf = (x: Buffer | string | null | undefined): number => (x == null ? 0 : typeof x === 'string' ? Buffer.byteLength(x) : x.length);

/** A message's bytes on the wire, near enough: key, value, headers, and 64 for the record's own fields. */
export function messageBytes(m: Message): number {
  let n = 64 + sizeOf(m.key) + sizeOf(m.value);
  for (const [name, v] of Object.entries(m.headers ?? {})) {
    n += Buffer.byteLength(name);
    for (const x of Array.isArray(v) ? v : [v]) n += sizeOf(x as Buffer | string | undefined);
  }
  return n;
}

/**
 * The writes as sendBatch requests of at most `maxBytes` each (a message bigger than that alone),
 * messages in queue order, grouped by topic inside a request.
 */
export function sendBatches(writes: readonly { topic: string; messages: readonly Message[] }[], maxBytes: number): { topic: string; messages: Message[] }[][] {
  const batches: Map<string, Message[]>[] = [];
  let current = new Map<string, Message[]>();
  let bytes = 0;
  for (const w of writes) {
    for (const m of w.messages) {
      const b = messageBytes(m);
      if (bytes > 0 && bytes + b > maxBytes) {
        batches.push(current);
        current = new Map();
        bytes = 0;
      }
      const list = current.get(w.topic);
      if (list) list.push(m);
      else current.set(w.topic, [m]);
      bytes += b;
    }
  }
  if (bytes > 0) batches.push(current);
  return batches.map((batch) => [...batch].map(([topic, messages]) => ({ topic, messages })));
}

/** A producer for exactly-once output: transactional (and so idempotent, one request in flight). */
export function transactionalProducerOptions(transactionalId: string, transactionTimeoutMs: number) {
  return { transactionalId, transactionTimeout: transactionTimeoutMs, idempotent: true, maxInFlightRequests: 1 } as const;
}

export function createTransactionalOutput(options: TransactionalOutputOptions): TransactionalOutput {
  const { tracker, groupId } = options;
  let producer = options.producer;
  /** The last transaction failed: the next try makes a new producer first. */
  let renew = false;
  let failuresInARow = 0;
  const intervalMs = options.intervalMs ?? 100;
  const maxSendBytes = options.maxSendBytes ?? MAX_SEND_BYTES;
  if (!(intervalMs > 0)) throw new Error(`transaction intervalMs must be > 0, got ${intervalMs}`);
  if (!(maxSendBytes > 0)) throw new Error(`transaction maxSendBytes must be > 0, got ${maxSendBytes}`);
  const stats = options.stats ?? createTransportStats();
  const log = (options.logger ?? silentLogger).child({ component: 'kafka-transactions' });
  const backoff = options.backoff ?? { initialMs: 300, maxMs: 5000 };
  const lastCommitted = new Map<string, string>();
  const transactions = { committed: 0, aborted: 0, renewed: 0, inDoubt: 0, inDoubtCommitted: 0 };
  /** Each transaction's id, in the metadata of the offsets it commits. */
  const runToken = randomUUID().slice(0, 8);
  let sequence = 0;
  /** The last commit's answer never came: its id and the partition that carries it. */
  let inDoubt: { id: string; marker: TopicPartition } | null = null;

  async function renewProducer(): Promise<void> {
    const make = options.createProducer;
    if (!make) return;
    await producer.disconnect?.().catch((err: unknown) => log.debug({ err }, 'disconnecting the old producer failed'));
    const next = make();
    producer = next;
    await next.connect();
    transactions.renewed++;
    log.info('transactional producer made anew after a failed transaction');
  }

  /** Whether the transaction in doubt committed, asked once a new producer finished it. */
  async function settledInDoubt(): Promise<boolean> {
    const doubt = inDoubt;
    if (doubt === null) return false;
    if (options.committedMetadata === undefined || options.createProducer === undefined) {
      inDoubt = null;
      log.warn({ transaction: doubt.id }, 'a commit in doubt cannot be settled here: its writes are sent again and may show twice');
      return false;
    }
    const metadata = await options.committedMetadata(doubt.marker);
    inDoubt = null;
    const committed = metadata === doubt.id;
    if (committed) transactions.inDoubtCommitted++;
    log.warn(
      { transaction: doubt.id, committed },
      `a commit in doubt was ${committed ? 'committed: its writes are not sent again' : 'aborted: its writes are sent again'}`,
    );
    return committed;
  }

  async function attempt(writes: Pending[], offsets: TopicPartitionOffset[]): Promise<void> {
    if (renew) {
      await renewProducer();
      renew = false;
    }
    try {
      if (await settledInDoubt()) return;
      await runTransaction(writes, offsets);
    } catch (err) {
      renew = options.createProducer !== undefined;
      failuresInARow++;
      throw err;
    }
    failuresInARow = 0;
  }
  let queue: Pending[] = [];
  /** A transaction failed for good: its records were settled without their outputs, so nothing more may commit. */
  let broken: unknown = null;

  async function runTransaction(writes: Pending[], offsets: TopicPartitionOffset[]): Promise<void> {
    const id = `${runToken}:${++sequence}`;
    const tx = await producer.transaction();
    let committing = false;
    try {
      // One request at a time, in queue order: each partition's messages keep their order.
      for (const batch of sendBatches(writes, maxSendBytes)) await tx.sendBatch({ topicMessages: batch });
      if (offsets.length > 0) {
        const topics = new Map<string, { partition: number; offset: string; metadata: string }[]>();
        for (const o of offsets) topics.set(o.topic, [...(topics.get(o.topic) ?? []), { partition: o.partition, offset: o.offset, metadata: id }]);
        await tx.sendOffsets({ consumerGroupId: groupId, topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) });
      }
      committing = true;
      await tx.commit();
    } catch (err) {
      if (committing && offsets.length > 0) {
        inDoubt = { id, marker: { topic: offsets[0]!.topic, partition: offsets[0]!.partition } };
        transactions.inDoubt++;
      }
      transactions.aborted++;
      await tx.abort().catch((e: unknown) => log.debug({ err: e }, 'abort after a failed transaction failed too'));
      throw err;
    }
  }

  async function flushOnce(): Promise<TopicPartitionOffset[]> {
    if (broken !== null) throw broken;
    const writes = queue;
    queue = [];
    for (const w of writes) w.onIncluded?.();
    const current = tracker.committable();
    const live = new Set(current.map(partitionKey));
    for (const key of [...lastCommitted.keys()]) if (!live.has(key)) lastCommitted.delete(key);
    const offsets = current.filter((o) => lastCommitted.get(partitionKey(o)) !== o.offset);
    if (writes.length === 0 && offsets.length === 0) return [];
    // Writes with no offset that moved: one unchanged offset carries the transaction's id (a marker for a commit in doubt).
    if (offsets.length === 0 && current.length > 0) offsets.push(current[0]!);
    try {
      await retryUntilDone(() => attempt(writes, offsets), {
        what: `a transaction of ${writes.length} write(s) and ${offsets.length} offset(s)`,
        backoff,
        retriable: (err) => isRetriableKafkaError(err) || (options.createProducer !== undefined && renewable(err) && failuresInARow <= MAX_RENEWALS),
        signal: options.signal,
        onRetry: (err, attempt, waitMs) => {
          stats.sendRetries++;
          const reason = `a transaction failed: ${err instanceof Error ? err.message : String(err)}`;
          options.health?.problem('producer', reason);
          log.warn({ err, attempt, waitMs }, `${reason}; retrying in ${waitMs} ms`);
        },
      });
    } catch (err) {
      stats.commitErrors++;
      broken = err;
      for (const w of [...writes, ...queue]) w.reject(err);
      queue = [];
      throw err;
    }
    options.health?.ok('producer');
    transactions.committed++;
    for (const o of offsets) {
      lastCommitted.set(partitionKey(o), o.offset);
      stats.committed[partitionKey(o)] = o.offset;
    }
    if (offsets.length > 0) stats.commits++;
    for (const w of writes) {
      stats.produced[w.topic] = (stats.produced[w.topic] ?? 0) + w.messages.length;
      w.resolve();
    }
    return offsets;
  }

  const periodic = periodicFlush(flushOnce, intervalMs, (err) => log.warn({ err }, 'transaction failed'));
  return {
    write(topic, messages, onIncluded) {
      if (broken !== null) return Promise.reject(broken);
      return new Promise<void>((resolve, reject) => {
        queue.push({ topic, messages, onIncluded, resolve, reject });
      });
    },
    start: periodic.start,
    commitNow: periodic.commitNow,
    stop: periodic.stop,
    stats,
    transactions,
    close: async () => {
      await producer.disconnect?.();
    },
  };
}
