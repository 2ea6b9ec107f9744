import type { InputRecord } from '../schemas/records.js';
import { assertWindowShape } from './windowOptions.js';

/** An event-time window [start, end). */
export interface WindowBounds {
  start: number;
  end: number;
}

/**
 * The windows [k*hopMs, k*hopMs + sizeMs) that contain instant `t`, earliest first:
 * those with start <= t < end, sizeMs / hopMs of them.
 *
 * @example windowsContaining(2500, 3000, 1000) // [{0, 3000}, {1000, 4000}, {2000, 5000}]
 */
export function windowsContaining(t: number, sizeMs: number, hopMs: number): WindowBounds[] {
  return windowsOverlapping(t, t, sizeMs, hopMs);
}

/**
 * The windows that overlap the span [from, to), earliest first: start < to and end > from.
 * A span with to <= from is the instant `from`.
 */
export function windowsOverlapping(from: number, to: number, sizeMs: number, hopMs: number): WindowBounds[] {
  assertWindowShape(sizeMs, hopMs);
  const first = Math.floor((from - sizeMs) / hopMs) + 1;
  const last = to > from ? Math.ceil(to / hopMs) - 1 : Math.floor(from / hopMs);
  const windows: WindowBounds[] = [];
  for (let k = first; k <= last; k++) windows.push({ start: k * hopMs, end: k * hopMs + sizeMs });
  return windows;
}

/**
 * The event-time span a record occupies: audio chunks and video frames are instants at their
 * `eventTime` (a chunk's 20-200 ms of samples go with its start); transcript segments span
 * [eventTime, endTime) and belong, whole, to every window they overlap.
 */
export function recordSpan(record: InputRecord): { from: number; to: number } {
  const from = record.value.eventTime;
  return record.kind === 'transcript' ? { from, to: record.value.endTime } : { from, to: from };
}
