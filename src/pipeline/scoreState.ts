/**
 * The per-session state a restart or rebalance needs, kept in the changelog topic
 * (transport/kafka/changelog.ts) and restored before a newly assigned partition is processed:
 * the end of the last scored window and the rolling score state. With it, a record re-read from
 * before the commit point does not build an already-scored window again (the windows start closed
 * through that end), and smoothing goes on from where it was, so a replayed session's scores equal
 * the first run's.
 *
 * Written with each score, in the same transaction (exactly-once). A session that ended is
 * written once more with `ended` set, and deleted (a tombstone) only once the committed offsets of
 * its partition have passed its last record, so a re-read straggler still finds its state.
 */
import type { RollingState } from '../scores/rollingScore.js';
import type { SourcePosition } from '../transport/types.js';

/** A changelog record as the sink writes it (keyed by session, on the session's input partition). */
export interface ChangelogMessage {
  key: string;
  value: Buffer | null;
  partition: number;
}

export interface SessionScoreState extends RollingState {
  /** The session ended (endOfStream or idle): kept until its records are all committed. */
  ended?: boolean;
  /** Per input topic, the offset after the session's last record scored (decimal strings): when it may be deleted. */
  after?: Record<string, string>;
}

const VERSION = 1;

const afterText = (after: ReadonlyMap<string, bigint>): Record<string, string> => Object.fromEntries([...after].map(([t, o]) => [t, o.toString()]));

export function encodeScoreState(state: SessionScoreState): Buffer {
  return Buffer.from(JSON.stringify({ v: VERSION, ...state }));
}

/** The state in a changelog value; throws naming what is wrong. */
export function decodeScoreState(value: Buffer, key: string): SessionScoreState {
  const o = JSON.parse(value.toString('utf8')) as Partial<SessionScoreState> & { v?: unknown };
  if (o.v !== VERSION) throw new Error(`changelog entry of session ${key} has version ${String(o.v)}, expected ${VERSION}`);
  const { lastWindowEnd, ema, recent, next, sum } = o;
  if (
    typeof lastWindowEnd !== 'number' ||
    typeof ema !== 'number' ||
    !Array.isArray(recent) ||
    !recent.every((x) => typeof x === 'number') ||
    typeof next !== 'number' ||
    typeof sum !== 'number'
  ) {
    throw new Error(`changelog entry of session ${key} is not a score state: ${value.toString('utf8').slice(0, 200)}`);
  }
  const after = typeof o.after === 'object' && o.after !== null ? o.after : undefined;
  return { lastWindowEnd, ema, recent, next, sum, ...(o.ended === true ? { ended: true } : {}), ...(after ? { after } : {}) };
}

interface Ended {
  partition: number;
  /** Per input topic, the offset after the session's last record seen. */
  after: Map<string, bigint>;
}

export interface ScoreStateStore {
  /** Takes the changelog entries read for newly assigned partitions. */
  load(entries: Iterable<{ partition: number; key: string; value: Buffer | null }>): void;
  /** The restored state of a session (undefined: none). */
  get(sessionId: string): SessionScoreState | undefined;
  /** A session was scored: its changelog message (partition = its records' partition). */
  scored(sessionId: string, partition: number, state: RollingState, positions: readonly SourcePosition[]): ChangelogMessage;
  /** A session ended: its `ended` message, or null when it never wrote state. */
  ended(sessionId: string): ChangelogMessage | null;
  /** Tombstones for ended sessions whose records are all before these committed offsets (`topic/partition` -> offset). */
  tombstones(committed: Readonly<Record<string, string>>): ChangelogMessage[];
  /** Forgets the sessions of revoked partitions. */
  dropPartitions(partitions: ReadonlySet<number>): void;
}

export function createScoreStateStore(): ScoreStateStore {
  /** Restored and written states, with the partition each lives on. */
  const states = new Map<string, { partition: number; state: SessionScoreState; after: Map<string, bigint> }>();
  const endedSessions = new Map<string, Ended>();

  const message = (sessionId: string, partition: number, value: Buffer | null): ChangelogMessage => ({ key: sessionId, value, partition });

  return {
    load(entries) {
      for (const e of entries) {
        if (e.value === null) {
          states.delete(e.key);
          continue;
        }
        const state = decodeScoreState(e.value, e.key);
        const after = new Map(Object.entries(state.after ?? {}).map(([topic, offset]) => [topic, BigInt(offset)]));
        states.set(e.key, { partition: e.partition, state, after });
        if (state.ended) endedSessions.set(e.key, { partition: e.partition, after });
      }
    },
    get(sessionId) {
      return states.get(sessionId)?.state;
    },
    scored(sessionId, partition, state, positions) {
      const entry = states.get(sessionId) ?? { partition, state, after: new Map<string, bigint>() };
      entry.state = state;
      entry.partition = partition;
      for (const p of positions) {
        const next = BigInt(p.offset) + 1n;
        if (next > (entry.after.get(p.topic) ?? -1n)) entry.after.set(p.topic, next);
      }
      states.set(sessionId, entry);
      endedSessions.delete(sessionId);
      return message(sessionId, partition, encodeScoreState({ ...state, after: afterText(entry.after) }));
    },
    ended(sessionId) {
      const entry = states.get(sessionId);
      if (!entry) return null;
      entry.state = { ...entry.state, ended: true, after: afterText(entry.after) };
      endedSessions.set(sessionId, { partition: entry.partition, after: entry.after });
      return message(sessionId, entry.partition, encodeScoreState(entry.state));
    },
    tombstones(committed) {
      const at = new Map(Object.entries(committed).map(([key, offset]) => [key, BigInt(offset)]));
      const out: ChangelogMessage[] = [];
      for (const [sessionId, e] of endedSessions) {
        const passed = [...e.after].every(([topic, next]) => (at.get(`${topic}/${e.partition}`) ?? -1n) >= next);
        if (!passed) continue;
        endedSessions.delete(sessionId);
        states.delete(sessionId);
        out.push(message(sessionId, e.partition, null));
      }
      return out;
    },
    dropPartitions(partitions) {
      for (const [id, e] of states) if (partitions.has(e.partition)) states.delete(id);
      for (const [id, e] of endedSessions) if (partitions.has(e.partition)) endedSessions.delete(id);
    },
  };
}
