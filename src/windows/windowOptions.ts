import type { Observable } from 'rxjs';
import type { InputKind } from '../schemas/records.js';
import { DEFAULTS } from '../config/config.js';
import { windowShapeProblem } from '../config/windowShape.js';
import { createWindowStats, type WindowStats } from './windowStats.js';

/**
 * When a session's `endOfStream` flag flushes it: `'all-modalities'` (default) once every modality
 * the session has sent records on has sent `endOfStream`, since audio, video and transcript travel
 * on different partitions and the ASR's last final segment usually trails the audio; `'any'` on the
 * first `endOfStream` of any modality. A modality that never says `endOfStream` leaves the session
 * to idle expiry.
 */
export type EndOfStreamPolicy = 'all-modalities' | 'any';

/** Options of `sessionWindows`; every field is optional, defaults in `DEFAULT_WINDOW_OPTIONS`. */
export interface SessionWindowOptions {
  /** W: window length in event-time ms. A positive multiple of `hopMs`. Default 6000. */
  sizeMs?: number;
  /** H: windows start at every multiple of H in event time. Default 1000. */
  hopMs?: number;
  /** The watermark trails the session's max event time by this much. Default 1000. */
  allowedLatenessMs?: number;
  /** Scheduler (processing) time without a record after which a session is flushed and freed. Default 30 000. */
  idleTimeoutMs?: number;
  /** A record whose event time is further than this from its session's max event time is rejected. Default 1 h. */
  maxEventTimeSkewMs?: number;
  /**
   * A record whose event time is more than this ahead of processing time (the scheduler's now) is
   * rejected TIME_OUT_OF_RANGE: a live source's clock cannot run that far ahead, and one such record
   * would otherwise drag its session's watermark along. null: no bound (a recording replayed with
   * its own, future, times). Default 10 min.
   */
  maxEventTimeAheadMs?: number | null;
  /**
   * Outlier guard J: a record whose event time is more than J past what the session's records
   * agree on (or a session's first record) is windowed, but moves the watermark only once a later
   * record reaches within J of it. One record can so move the watermark at most J past the rest;
   * with J <= allowedLatenessMs it closes no window that the next record in order would not. The
   * cost: after a genuine jump (a pause of more than J) the windows close one record later. null:
   * off (every record moves it at once). Default 1000.
   */
  maxWatermarkJumpMs?: number | null;
  /** Records held by a session's open windows at once; more are rejected as SESSION_FULL. Default 20 000. */
  maxRecordsPerSession?: number;
  /**
   * Modality alignment (0 = off). Audio, video and transcript come from different topics and
   * partitions, consumed at different speeds (a restart reads a backlog topic by topic), so a
   * session's watermark is the minimum over its modalities of their max event time, each
   * modality counted only while it is live: it sent a record within `modalityIdleMs` of
   * scheduler time, has not said endOfStream, or (never seen yet) the session is younger than
   * `modalityIdleMs`. A modality that stops (camera off, silence from the ASR) stops holding the
   * session back after `modalityIdleMs` of the session's other records going on without it: when
   * the whole session was silent for `modalityIdleMs` (a stall, a rebalance, a pause in the
   * stream), the modalities live when it went quiet get `modalityIdleMs` again from its first
   * record back, since they come back topic by topic. With 0 the watermark is the max over all
   * records. Default 2000.
   */
  modalityIdleMs?: number;
  /**
   * Whether a modality's input partition may still hold records not handed to the windows yet
   * (the Kafka source's end offsets; the partition is the session's, co-partitioned): while it
   * may, a modality (seen before or not yet) is not counted idle however long it has been silent, as Flink does
   * not count a split idle while it has records left. After a broker outage the consumer brings
   * the partitions back one by one; without this the first topic handed over moves the watermark
   * past the others' records. Default: none (a silent modality is idle after `modalityIdleMs`).
   */
  inputBehind?: ((kind: InputKind, partition: number) => boolean) | null;
  /** See `EndOfStreamPolicy`. Default `'all-modalities'`. */
  endOfStream?: EndOfStreamPolicy;
  /** Wall clock (epoch ms) for `closedAt`. Default `Date.now`; tests pass the scheduler's `now`. */
  now?: () => number;
  /** Counters to update; pass one from `createWindowStats()` to read them. Default: a private one. */
  stats?: WindowStats;
  /**
   * Holds a session's watermark while its speech is being transcribed (the speech stage), so no
   * window closes before the machine transcript of its audio has arrived. Default: none.
   */
  hold?: WatermarkHold | null;
  /**
   * After a restart or a rebalance: the end of the last window already scored for a session (the
   * restored score state), or undefined. A new session state starts closed through it, and a record
   * re-read from before the commit point whose windows all end there is `assigned` to 0 windows
   * (counted in `alreadyScored`), not sent to the late topic. Default: none.
   */
  restored?: ((sessionId: string) => number | undefined) | null;
  /**
   * Partition numbers revoked from this instance (co-partitioned: the same number in every input
   * topic): the sessions whose records came from them are dropped at once, windows, buffers and
   * timers, without emitting their windows; a `revoked` event names them. Default: none.
   */
  revoked?: Observable<readonly number[]> | null;
}

/**
 * A session's watermark held back by work still on its way into the windows (the recogniser's
 * segments): `heldAt` is the event time before which that work is complete, or null when nothing
 * holds the session. The holder bounds it (a timeout) so a stuck recogniser cannot stall windows.
 */
export interface WatermarkHold {
  heldAt(sessionId: string, at: number): number | null;
}

export type SessionWindowConfig = Required<SessionWindowOptions>;

/** The config's `windows` defaults (one set for the service and for direct use), and the end-of-stream policy. */
export const DEFAULT_WINDOW_OPTIONS = {
  ...DEFAULTS.windows,
  endOfStream: 'all-modalities' as EndOfStreamPolicy,
} as const;

export { MAX_WINDOWS_PER_INSTANT } from '../config/windowShape.js';

const KNOWN_KEYS = [...Object.keys(DEFAULT_WINDOW_OPTIONS), 'now', 'stats', 'hold', 'restored', 'revoked', 'inputBehind'];

/** Thrown for a bad window option; the message names the option, the value and what to do. */
export class WindowOptionsError extends RangeError {
  override name = 'WindowOptionsError';
}

function fail(message: string): never {
  throw new WindowOptionsError(`sessionWindows: ${message}`);
}

function integerAtLeast(name: string, value: number, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(`${name} must be an integer >= ${min} (milliseconds or a count), got ${String(value)}`);
  }
  return value;
}

/** Checks a window shape (`config/windowShape.ts`); throws `WindowOptionsError` naming the values. */
export function assertWindowShape(sizeMs: number, hopMs: number): void {
  const problem = windowShapeProblem(sizeMs, hopMs);
  if (problem !== null) fail(problem);
}

/** Applies defaults and validates; throws `WindowOptionsError` naming the first bad value. */
export function resolveWindowOptions(options: SessionWindowOptions = {}): SessionWindowConfig {
  if (typeof options !== 'object' || options === null) fail(`options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.includes(key)) fail(`unknown option "${key}"; known options: ${KNOWN_KEYS.join(', ')}`);
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const config: SessionWindowConfig = {
    ...DEFAULT_WINDOW_OPTIONS,
    now: Date.now,
    stats: createWindowStats(),
    hold: null,
    restored: null,
    revoked: null,
    inputBehind: null,
    ...defined,
  };
  assertWindowShape(config.sizeMs, config.hopMs);
  integerAtLeast('allowedLatenessMs', config.allowedLatenessMs, 0);
  integerAtLeast('idleTimeoutMs', config.idleTimeoutMs, 1);
  integerAtLeast('maxRecordsPerSession', config.maxRecordsPerSession, 1);
  integerAtLeast('modalityIdleMs', config.modalityIdleMs, 0);
  if (config.maxEventTimeAheadMs !== null) integerAtLeast('maxEventTimeAheadMs', config.maxEventTimeAheadMs, 1);
  if (config.maxWatermarkJumpMs !== null) integerAtLeast('maxWatermarkJumpMs', config.maxWatermarkJumpMs, 0);
  // A smaller skew would reject records that allowed lateness (or one transcript segment) admits.
  integerAtLeast('maxEventTimeSkewMs', config.maxEventTimeSkewMs, config.sizeMs + config.allowedLatenessMs);
  if (config.endOfStream !== 'all-modalities' && config.endOfStream !== 'any') {
    fail(`endOfStream must be 'all-modalities' or 'any', got ${JSON.stringify(config.endOfStream)}`);
  }
  if (typeof config.now !== 'function') fail(`now must be a function returning epoch ms, got ${typeof config.now}`);
  if (config.hold !== null && typeof config.hold?.heldAt !== 'function') fail(`hold must have a heldAt(sessionId, at) function, got ${String(config.hold)}`);
  if (config.inputBehind !== null && typeof config.inputBehind !== 'function') {
    fail(`inputBehind must be a function of a kind and a partition, got ${String(config.inputBehind)}`);
  }
  if (config.restored !== null && typeof config.restored !== 'function') fail(`restored must be a function of a session id, got ${String(config.restored)}`);
  if (typeof config.stats !== 'object' || config.stats === null) {
    fail(`stats must be an object from createWindowStats(), got ${String(config.stats)}`);
  }
  return config;
}
