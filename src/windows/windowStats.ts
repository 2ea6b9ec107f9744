import type { WindowRejectCode } from './types.js';

/** Counters of the windowing stage; `openSessions` and `bufferedRecords` are gauges, the rest only grow. */
export interface WindowStats {
  /** Input records seen. */
  records: number;
  /** Records that joined at least one window. */
  assigned: number;
  windowsEmitted: number;
  /** Records whose windows had all closed (side output). */
  late: number;
  /** Records re-read after a restart or rebalance whose windows had all been scored before (restored state): settled, not late. */
  alreadyScored: number;
  /** Sessions dropped without emitting because their partition was revoked (another instance owns them now). */
  revokedSessions: number;
  /** Assigned records that missed at least one of their windows because it had closed. */
  partiallyLate: number;
  rejected: number;
  rejectedByCode: Record<WindowRejectCode, number>;
  /** Transcript segments whose content gave way to another with the same segmentId. */
  superseded: number;
  /** Sessions flushed and freed, by endOfStream, idle timeout or end of input. */
  expiredSessions: number;
  /** Sessions holding state now (not yet flushed by endOfStream, idle timeout or end of input). */
  openSessions: number;
  /** Records held by open windows now, over all sessions. */
  bufferedRecords: number;
}

export function createWindowStats(): WindowStats {
  return {
    records: 0,
    assigned: 0,
    windowsEmitted: 0,
    late: 0,
    alreadyScored: 0,
    revokedSessions: 0,
    partiallyLate: 0,
    rejected: 0,
    rejectedByCode: { TIME_OUT_OF_RANGE: 0, SESSION_FULL: 0, MISSING_SESSION_ID: 0, PROCESSING_FAILED: 0 },
    superseded: 0,
    expiredSessions: 0,
    openSessions: 0,
    bufferedRecords: 0,
  };
}
