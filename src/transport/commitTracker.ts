/**
 * Which consumed offsets may be committed: per topic-partition, everything before the first record
 * that is still pending. Pure bookkeeping, no Kafka client.
 *
 * A record's life: `track` when the source hands it downstream (in offset order per partition);
 * then `joined(position, n)` once the windows know it joined n windows, and `windowDone(positions)`
 * each time a window holding it has been scored. It is done when it has joined and all n windows
 * are done. n = 0 means handled at once: dead-lettered, sent to the late topic, or otherwise
 * settled. The two kinds of signals may arrive in either order.
 *
 * `committable()` gives, per partition, the offset of the first record not yet done, or the last
 * tracked offset + 1 when all are done: the next offset a restarted consumer should read. It never
 * passes a pending record, whatever order records complete in. Offsets need not be contiguous
 * (compaction and transaction markers leave gaps); only tracked records count.
 *
 * Rebalance: state of revoked partitions is dropped (`retain` / `revoke`); later signals for them
 * are ignored, so a stale commit cannot overwrite the new owner's progress.
 *
 * @example
 * tracker.track(raw);                       // source
 * tracker.joined(raw, 6);                   // windows: record joined 6 windows
 * tracker.windowDone(window.positions);     // after each window is scored (x6)
 * consumer.commitOffsets(tracker.committable());
 */
import { partitionKey, type SourcePosition, type TopicPartition, type TopicPartitionOffset } from './types.js';

interface Entry {
  offset: string;
  /** Windows still to be scored (may go below zero if a window is reported before the join). */
  refs: number;
  joined: boolean;
}

interface PartitionState {
  topic: string;
  partition: number;
  /** Tracked records not yet committable, oldest first, from index `head`. */
  queue: Entry[];
  head: number;
  byOffset: Map<string, Entry>;
  /** Highest tracked offset. */
  last: bigint;
}

export interface CommitTrackerStats {
  tracked: number;
  done: number;
  /** Signals for positions the tracker does not hold (revoked partition, not from Kafka, repeated). */
  ignored: number;
  /** Records tracked and not yet done, over all partitions. */
  pending: number;
}

const isDone = (e: Entry) => e.joined && e.refs <= 0;

export class CommitTracker {
  private readonly partitions = new Map<string, PartitionState>();
  readonly stats: CommitTrackerStats = { tracked: 0, done: 0, ignored: 0, pending: 0 };

  /**
   * Starts tracking a record handed downstream. Offsets must increase per partition; an offset at or
   * below the highest tracked one is ignored (a replay) and false is returned.
   */
  track(position: SourcePosition): boolean {
    const key = partitionKey(position);
    const offset = BigInt(position.offset);
    let state = this.partitions.get(key);
    if (!state) {
      state = { topic: position.topic, partition: position.partition, queue: [], head: 0, byOffset: new Map(), last: offset };
      this.partitions.set(key, state);
    } else if (offset <= state.last) {
      this.stats.ignored++;
      return false;
    }
    state.last = offset;
    const entry: Entry = { offset: position.offset, refs: 0, joined: false };
    state.queue.push(entry);
    state.byOffset.set(position.offset, entry);
    this.stats.tracked++;
    this.stats.pending++;
    return true;
  }

  /** The record joined `windows` windows (0: it was handled at once, e.g. dead-lettered or late). */
  joined(position: SourcePosition | undefined, windows: number): void {
    if (!Number.isInteger(windows) || windows < 0) throw new RangeError(`windows must be a non-negative integer, got ${windows}`);
    this.update(position, (e) => {
      if (e.joined) return false; // a repeated join would double-count
      e.joined = true;
      e.refs += windows;
      return true;
    });
  }

  /** Shorthand for `joined(position, 0)`: the record needs nothing more (dead-letter, late topic). */
  settled(position: SourcePosition | undefined): void {
    this.joined(position, 0);
  }

  /** A window holding these records has been scored (or otherwise finished). */
  windowDone(positions: Iterable<SourcePosition>): void {
    for (const p of positions) {
      this.update(p, (e) => {
        e.refs -= 1;
        return true;
      });
    }
  }

  /**
   * Every message of a partition up to `lastOffset` was handed over (tracked or redelivered): the
   * offsets in between that no message had (transaction markers, aborted records) need nothing, so
   * a commit may pass them once the records before them are done. Without this a partition written
   * by a transactional producer would stay one offset behind its end for ever.
   */
  passed(tp: TopicPartition, lastOffset: string): void {
    const offset = BigInt(lastOffset);
    const key = partitionKey(tp);
    const state = this.partitions.get(key);
    if (!state) this.partitions.set(key, { topic: tp.topic, partition: tp.partition, queue: [], head: 0, byOffset: new Map(), last: offset });
    else if (offset > state.last) state.last = offset;
  }

  /** Per partition, the next offset to read after everything done: what to commit now. */
  committable(): TopicPartitionOffset[] {
    const out: TopicPartitionOffset[] = [];
    for (const s of this.partitions.values()) {
      const first = s.queue[s.head];
      out.push({ topic: s.topic, partition: s.partition, offset: first ? first.offset : (s.last + 1n).toString() });
    }
    return out;
  }

  /** Keeps only the given partitions (the new assignment after a rebalance); returns the dropped ones. */
  retain(assigned: Iterable<TopicPartition>): TopicPartition[] {
    const keep = new Set<string>();
    for (const tp of assigned) keep.add(partitionKey(tp));
    return this.drop([...this.partitions.keys()].filter((k) => !keep.has(k)));
  }

  /** Drops the state of revoked partitions; returns those that had state. */
  revoke(revoked: Iterable<TopicPartition>): TopicPartition[] {
    return this.drop([...revoked].map(partitionKey));
  }

  /** Partitions with tracked records. */
  partitionsTracked(): TopicPartition[] {
    return [...this.partitions.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  private drop(keys: string[]): TopicPartition[] {
    const dropped: TopicPartition[] = [];
    for (const key of keys) {
      const s = this.partitions.get(key);
      if (!s) continue;
      this.stats.pending -= s.byOffset.size;
      this.partitions.delete(key);
      dropped.push({ topic: s.topic, partition: s.partition });
    }
    return dropped;
  }

  private update(position: SourcePosition | undefined, change: (e: Entry) => boolean): void {
    if (!position) return; // a record that did not come from Kafka
    const s = this.partitions.get(partitionKey(position));
    const entry = s?.byOffset.get(position.offset);
    if (!s || !entry) {
      this.stats.ignored++;
      return;
    }
    if (!change(entry)) {
      this.stats.ignored++;
      return;
    }
    if (isDone(entry)) {
      s.byOffset.delete(entry.offset);
      this.stats.done++;
      this.stats.pending--;
      this.advance(s);
    }
  }

  /** Moves the head past done records; compacts the queue now and then. */
  private advance(s: PartitionState): void {
    while (s.head < s.queue.length && !s.byOffset.has(s.queue[s.head]!.offset)) s.head++;
    if (s.head === s.queue.length) {
      s.queue = [];
      s.head = 0;
    } else if (s.head > 1024 && s.head * 2 > s.queue.length) {
      s.queue = s.queue.slice(s.head);
      s.head = 0;
    }
  }
}
