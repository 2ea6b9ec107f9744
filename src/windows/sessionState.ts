import type { InputKind, InputRecord } from '../schemas/records.js';
import type { SourcePosition } from '../transport/types.js';
import type { SessionWindowConfig } from './windowOptions.js';
import { recordSpan } from './windowsContaining.js';

/**
 * One session's state in `createSessionWindowing` (sessionWindowing.ts), and the checks of its
 * event times: whether a record's times can be windowed at all (`timeProblem`) and how far its
 * time moves the session's confirmed progress (`observe`, the watermark-jump guard).
 */

/** One accepted record as held by open windows; `content` is null once superseded. */
export interface Entry {
  position: SourcePosition | undefined;
  content: InputRecord | null;
  segmentId: string | null;
  /** Open windows holding this entry; the record stops counting against the cap at 0. */
  openWindows: number;
}

export interface OpenWindow {
  start: number;
  end: number;
  entries: Entry[];
}

export interface SessionState {
  sessionId: string;
  /** Partition number of the session's records (co-partitioned: the same in every input topic); null when not from Kafka. */
  partition: number | null;
  /** Windows ending at or before this were scored before a restart or rebalance (restored state). */
  restoredThrough: number;
  /** False once flushed: a tombstone kept idleTimeoutMs so stragglers are late, not re-windowed. */
  active: boolean;
  /** Max event time seen; -Infinity before the first record. */
  maxEventTime: number;
  /**
   * Max event time that more than one record supports (see `maxWatermarkJumpMs`): what the
   * watermark may follow. -Infinity until a second record confirms the first.
   */
  confirmed: number;
  /** Event times that jumped past `confirmed` and wait for a later record to confirm them (a few at most). */
  pending: number[];
  /** Windows ending at or before this are closed: max(watermark, end of the last emitted window). */
  closedThrough: number;
  /** Open windows that hold at least one record, by start. */
  windows: Map<number, OpenWindow>;
  /** The entry whose content currently stands for each transcript segmentId. */
  segments: Map<string, Entry>;
  buffered: number;
  /** Modalities that joined windows, and those that said endOfStream, since the session (re)opened. */
  seen: Set<InputKind>;
  ended: Set<InputKind>;
  /**
   * Transcript sources (origin; '' for a person's) since the session (re)opened, and whether each
   * said endOfStream: the transcript modality ends when all of them have (a captioner and the
   * recogniser may both write one session's transcript).
   */
  transcriptSources: Map<string, boolean>;
  /** Scheduler time of the last record (or of the flush, for a tombstone). */
  lastSeen: number;
  /** Scheduler time the session (re)opened: unseen modalities hold it back for modalityIdleMs. */
  openedAt: number;
  /** Per modality: max event time reached (a transcript segment reaches its endTime) and when last seen. */
  progress: Map<InputKind, { maxEventTime: number; lastSeen: number }>;
}

export const KINDS: readonly InputKind[] = ['audio', 'video', 'transcript'];

/** Jumped event times kept waiting for confirmation per session; beyond it the highest is forgotten. */
const MAX_PENDING = 8;

export type TimeLimits = Pick<SessionWindowConfig, 'maxEventTimeAheadMs' | 'maxEventTimeSkewMs'>;

/** A session seen for the first time (or again after its tombstone went); `restoredThrough` from restored state. */
export function newSessionState(sessionId: string, partition: number | null, restoredThrough: number, at: number): SessionState {
  return {
    sessionId,
    partition,
    restoredThrough,
    active: false,
    maxEventTime: -Infinity,
    confirmed: -Infinity,
    pending: [],
    closedThrough: restoredThrough,
    windows: new Map(),
    segments: new Map(),
    buffered: 0,
    seen: new Set(),
    ended: new Set(),
    transcriptSources: new Map(),
    lastSeen: at,
    openedAt: at,
    progress: new Map(),
  };
}

/** Why the record's times cannot be windowed, or null; `at` is processing (scheduler) time. */
export function timeProblem(input: InputRecord, state: SessionState | undefined, at: number, limits: TimeLimits): string | null {
  const { maxEventTimeAheadMs, maxEventTimeSkewMs } = limits;
  const { from, to } = recordSpan(input);
  if (!Number.isFinite(from)) return `eventTime ${String(from)} is not a finite epoch-ms number`;
  if (maxEventTimeAheadMs !== null && from - at > maxEventTimeAheadMs) {
    return (
      `eventTime ${from} is ${from - at} ms ahead of processing time ${at}, over maxEventTimeAheadMs=${maxEventTimeAheadMs} ` +
      `(a clock running ahead; a recording replayed with its own times needs a larger bound)`
    );
  }
  if (input.kind === 'transcript') {
    if (!Number.isFinite(to) || to < from) {
      return `transcript segment ${input.value.segmentId} ends (endTime ${String(to)}) before it starts (eventTime ${from})`;
    }
    if (to - from > maxEventTimeSkewMs) {
      return `transcript segment ${input.value.segmentId} spans ${to - from} ms, over maxEventTimeSkewMs=${maxEventTimeSkewMs}`;
    }
  }
  // Measured from the time the session's records agree on, so one accepted outlier cannot
  // make the rest of the session out of range.
  const reference = state ? skewReference(state) : -Infinity;
  if (Number.isFinite(reference) && Math.abs(from - reference) > maxEventTimeSkewMs) {
    return (
      `eventTime ${from} is ${Math.abs(from - reference)} ms from session ${state!.sessionId}'s ` +
      `max event time ${reference}, over maxEventTimeSkewMs=${maxEventTimeSkewMs}`
    );
  }
  return null;
}

function skewReference(state: SessionState): number {
  return Number.isFinite(state.confirmed) ? state.confirmed : state.maxEventTime;
}

/**
 * Takes a record's event time into the session's confirmed progress. Without the guard
 * (`maxWatermarkJumpMs` null) every time counts at once. With it, a time more than J past the
 * confirmed max (or the session's first) waits until a later record reaches within J of it
 * (t >= p - J); so one record can move the watermark at most J past what other records reached.
 */
export function observe(state: SessionState, t: number, maxWatermarkJumpMs: number | null): void {
  if (maxWatermarkJumpMs === null) {
    state.confirmed = Math.max(state.confirmed, t);
    return;
  }
  const J = maxWatermarkJumpMs;
  if (state.pending.length > 0) {
    const still: number[] = [];
    for (const p of state.pending) {
      if (p <= t + J) state.confirmed = Math.max(state.confirmed, p);
      else still.push(p);
    }
    state.pending = still;
  }
  if (Number.isFinite(state.confirmed) && t <= state.confirmed + J) {
    state.confirmed = Math.max(state.confirmed, t);
    return;
  }
  state.pending.push(t);
  if (state.pending.length > MAX_PENDING) {
    // The highest is the likeliest outlier; forgetting it only delays a genuine jump by a record.
    state.pending.splice(state.pending.indexOf(Math.max(...state.pending)), 1);
  }
}
