// The windows stage: per-session event-time sliding windows (DESIGN.md §4).
export { sessionWindows } from './sessionWindows.js';
export { createSessionWindowing, type SessionWindowing } from './sessionWindowing.js';
export {
  assertWindowShape,
  DEFAULT_WINDOW_OPTIONS,
  MAX_WINDOWS_PER_INSTANT,
  resolveWindowOptions,
  WindowOptionsError,
  type EndOfStreamPolicy,
  type SessionWindowConfig,
  type SessionWindowOptions,
} from './windowOptions.js';
export { createWindowStats, type WindowStats } from './windowStats.js';
export { eventTimeReached } from './eventTimeReached.js';
export { recordSpan, windowsContaining, windowsOverlapping, type WindowBounds } from './windowsContaining.js';
export type * from './types.js';
