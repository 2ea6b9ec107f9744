import type { SessionWindow } from './types.js';
import { recordSpan } from './windowsContaining.js';

/**
 * The event time a window's records actually reach: the latest record's event time, a
 * transcript segment counting to its `endTime`, clamped to the window's end; the window's start
 * when it holds no records.
 *
 * A window's end says how far its records could reach, not how far they do: the windows flushed
 * when a session ends run up to W past its last record. Whatever measures elapsed event time over
 * scores (alert rules) measures it with this, not with the window end.
 *
 * @example eventTimeReached({ start: 2000, end: 8000, audio: [{ eventTime: 7500, ... }], ... }) // 7500
 */
export function eventTimeReached(window: SessionWindow): number {
  let reached = window.start;
  for (const value of window.audio) reached = Math.max(reached, recordSpan({ kind: 'audio', value }).to);
  for (const value of window.video) reached = Math.max(reached, recordSpan({ kind: 'video', value }).to);
  for (const value of window.transcript) reached = Math.max(reached, recordSpan({ kind: 'transcript', value }).to);
  return Math.min(reached, window.end);
}
