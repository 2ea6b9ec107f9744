import type { InputKind, InputRecord } from '../schemas/records.js';
import type { SessionWindowConfig } from './windowOptions.js';
import type { Positioned, SessionWindow, WindowEvent, WindowRejectCode } from './types.js';
import { recordSpan, windowsOverlapping } from './windowsContaining.js';
import { KINDS, newSessionState, observe, timeProblem, type Entry, type OpenWindow, type SessionState } from './sessionState.js';

/**
 * The pure state machine behind `sessionWindows`: per-session windows, watermark, lateness,
 * transcript replacement and flushing, with time passed in. No timers, no RxJS; the operator
 * owns the clock and the idle timers. Semantics are documented on `sessionWindows`.
 */
export interface SessionWindowing {
  /** Processes one record at scheduler time `at`; returns its disposition and any windows it closed. */
  accept(record: Positioned<InputRecord>, at: number): WindowEvent[];
  /** Whether `sessionId` has state (open windows or a tombstone) that an idle timer must watch. */
  tracks(sessionId: string): boolean;
  /**
   * Timer check at scheduler time `at`: flushes a session idle for idleTimeoutMs, or one whose
   * modalities have all said endOfStream once the grace for modalities never seen has passed, or
   * drops its tombstone; `recheckInMs` is when to check again (null: nothing left to watch).
   */
  checkIdle(sessionId: string, at: number): { events: WindowEvent[]; recheckInMs: number | null };
  /** When the session next needs `checkIdle` (ms from `at`), or null when it needs none. */
  dueIn(sessionId: string, at: number): number | null;
  /** Flushes every session (end of input) and forgets them all. */
  flushAll(): WindowEvent[];
  /** Forgets every session whose records came from one of these partitions, without emitting; returns their ids. */
  dropPartitions(partitions: ReadonlySet<number>): string[];
  /** Forgets every session without emitting (error or unsubscribe). */
  dispose(): void;
}

export function createSessionWindowing(config: SessionWindowConfig): SessionWindowing {
  const { sizeMs, hopMs, allowedLatenessMs, idleTimeoutMs, maxRecordsPerSession, modalityIdleMs, stats, hold, restored } = config;
  const { maxWatermarkJumpMs, inputBehind } = config;
  /** While a hold is on, the timer looks again this often (the hold may lift or time out). */
  const HOLD_RECHECK_MS = 250;
  const heldAt = (state: SessionState, at: number): number | null => (hold ? hold.heldAt(state.sessionId, at) : null);
  const sessions = new Map<string, SessionState>();

  function reject(record: Positioned<InputRecord>, code: WindowRejectCode, reason: string): WindowEvent {
    stats.rejected++;
    stats.rejectedByCode[code]++;
    return { type: 'rejected', record, code, reason };
  }

  function errorText(err: unknown): string {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }

  function open(state: SessionState, at: number): void {
    if (state.active) return;
    state.active = true;
    state.openedAt = at;
    stats.openSessions++;
  }

  function release(state: SessionState, entry: Entry): void {
    entry.openWindows--;
    if (entry.openWindows > 0) return;
    state.buffered--;
    stats.bufferedRecords--;
    if (entry.segmentId !== null && state.segments.get(entry.segmentId) === entry) state.segments.delete(entry.segmentId);
  }

  function emitWindow(state: SessionState, window: OpenWindow): WindowEvent {
    state.windows.delete(window.start);
    state.closedThrough = Math.max(state.closedThrough, window.end);
    const contents = window.entries.flatMap((e) => (e.content === null ? [] : [e.content]));
    const byTime = <T extends { eventTime: number }>(kind: InputKind) =>
      contents
        .filter((c) => c.kind === kind)
        .map((c) => c.value as unknown as T)
        .sort((a, b) => a.eventTime - b.eventTime);
    const closed: SessionWindow = {
      sessionId: state.sessionId,
      start: window.start,
      end: window.end,
      audio: byTime('audio'),
      video: byTime('video'),
      transcript: byTime('transcript'),
      positions: window.entries.flatMap((e) => (e.position === undefined ? [] : [e.position])),
      closedAt: config.now(),
    };
    for (const entry of window.entries) release(state, entry);
    stats.windowsEmitted++;
    return { type: 'window', window: closed };
  }

  /** Emits, in end order, the open windows ending at or before `through` (all of them for Infinity). */
  function closeThrough(state: SessionState, through: number): WindowEvent[] {
    const due = [...state.windows.values()].filter((w) => w.end <= through).sort((a, b) => a.start - b.start);
    const events = due.map((w) => emitWindow(state, w));
    if (Number.isFinite(through)) state.closedThrough = Math.max(state.closedThrough, through);
    return events;
  }

  /** Emits every open window, frees the buffers and leaves a tombstone. */
  function flush(state: SessionState, at: number): WindowEvent[] {
    const events = closeThrough(state, Infinity);
    state.segments.clear();
    state.seen.clear();
    state.ended.clear();
    state.transcriptSources.clear();
    state.progress.clear();
    state.lastSeen = at;
    if (state.active) {
      state.active = false;
      stats.openSessions--;
      stats.expiredSessions++;
      events.push({ type: 'expired', sessionId: state.sessionId, lastEventTime: state.maxEventTime });
    }
    return events;
  }

  /** Joins the record to its still-open windows; returns its disposition event. */
  function assign(state: SessionState, record: Positioned<InputRecord>, at: number): WindowEvent {
    const input = record.value;
    const { from, to } = recordSpan(input);
    const all = windowsOverlapping(from, to, sizeMs, hopMs);
    const stillOpen = all.filter((w) => w.end > state.closedThrough);
    const redone = all.filter((w) => w.end <= state.restoredThrough).length;
    if (stillOpen.length === 0 && redone === all.length) {
      // Re-read from before the commit point: its windows were scored (and committed) before.
      stats.alreadyScored++;
      return { type: 'assigned', sessionId: state.sessionId, position: record.position, windows: 0, missedWindows: all.length };
    }
    if (stillOpen.length === 0) {
      stats.late++;
      const last = all[all.length - 1];
      return {
        type: 'late',
        record,
        reason:
          `all ${all.length} windows of session ${state.sessionId} containing event time ${from} have closed ` +
          `(the last ended at ${last?.end}; closed through ${state.closedThrough})`,
      };
    }
    if (state.buffered >= maxRecordsPerSession) {
      return reject(
        record,
        'SESSION_FULL',
        `session ${state.sessionId} already holds ${state.buffered} records in open windows ` + `(maxRecordsPerSession=${maxRecordsPerSession})`,
      );
    }
    const entry: Entry = {
      position: record.position,
      content: input,
      segmentId: input.kind === 'transcript' ? input.value.segmentId : null,
      openWindows: stillOpen.length,
    };
    if (input.kind === 'transcript') supersede(state, entry, input.value.segmentId, input.value.isFinal);
    open(state, at);
    for (const { start, end } of stillOpen) {
      let window = state.windows.get(start);
      if (!window) {
        window = { start, end, entries: [] };
        state.windows.set(start, window);
      }
      window.entries.push(entry);
    }
    state.buffered++;
    stats.bufferedRecords++;
    stats.assigned++;
    state.seen.add(input.kind);
    if (input.kind === 'transcript') {
      const source = input.value.origin ?? '';
      if (!state.transcriptSources.has(source)) state.transcriptSources.set(source, false);
    }
    const missedWindows = all.length - stillOpen.length;
    if (missedWindows > redone) stats.partiallyLate++;
    return {
      type: 'assigned',
      sessionId: state.sessionId,
      position: record.position,
      windows: stillOpen.length,
      missedWindows,
    };
  }

  /**
   * A segment replaces the open-window content of an earlier one with the same segmentId, unless
   * the earlier is final and the newcomer interim; the loser's position stays in its windows.
   */
  function supersede(state: SessionState, entry: Entry, segmentId: string, isFinal: boolean): void {
    const standing = state.segments.get(segmentId);
    if (standing?.content?.kind === 'transcript' && standing.content.value.isFinal && !isFinal) {
      entry.content = null;
      stats.superseded++;
      return;
    }
    if (standing && standing.content !== null) {
      standing.content = null;
      stats.superseded++;
    }
    state.segments.set(segmentId, entry);
  }

  /** Applies a record's endOfStream flag: flushes the session per the endOfStream policy. */
  function endOfStream(state: SessionState, input: InputRecord, at: number): WindowEvent[] {
    if (!input.value.endOfStream || !state.active) return [];
    if (input.kind === 'transcript') {
      state.transcriptSources.set(input.value.origin ?? '', true);
      if ([...state.transcriptSources.values()].some((ended) => !ended)) return [];
    }
    state.ended.add(input.kind);
    return config.endOfStream === 'any' || endGraceLeft(state, at) === 0 ? flush(state, at) : [];
  }

  /**
   * Every modality the session sent has said endOfStream: 0 when it may be flushed now, else the
   * ms until it may (with modality alignment, a modality not seen yet may still be on its way
   * while the session is younger than modalityIdleMs; once that passes it no longer holds the
   * session back); null when some modality has not ended.
   */
  function endGraceLeft(state: SessionState, at: number): number | null {
    if (heldAt(state, at) !== null) return null; // its transcript is still on its way
    if (state.ended.size === 0 || ![...state.seen].every((kind) => state.ended.has(kind))) return null;
    const othersMayCome = modalityIdleMs > 0 && KINDS.some((k) => !state.seen.has(k));
    return othersMayCome ? Math.max(0, state.openedAt + modalityIdleMs - at) : 0;
  }

  /**
   * The session's event-time progress: with modality alignment, the minimum over its live
   * modalities (see `modalityIdleMs`); otherwise, or when none is live, the max event time seen;
   * never past what a hold (the recogniser) says is complete.
   */
  function watermark(state: SessionState, at: number): number {
    const held = heldAt(state, at);
    const free = unheldWatermark(state, at);
    return held === null ? free : Math.min(free, held);
  }

  function unheldWatermark(state: SessionState, at: number): number {
    if (modalityIdleMs === 0) return state.confirmed;
    let low = Infinity;
    for (const kind of KINDS) {
      if (state.ended.has(kind)) continue;
      const p = state.progress.get(kind);
      if (p === undefined) {
        // Not seen yet: it may still be on its way while the session is young, or while its
        // partition holds records not handed over (a new owner after a rebalance or restart reads
        // its backlog topic by topic, seconds apart on a loaded machine).
        if (at - state.openedAt < modalityIdleMs || partitionBehind(state, kind)) low = -Infinity;
      } else if (at - p.lastSeen < modalityIdleMs || partitionBehind(state, kind)) {
        // Live, or silent while its partition may still hold its records (not idle: see inputBehind).
        low = Math.min(low, p.maxEventTime);
      }
    }
    return low === Infinity ? state.confirmed : Math.min(low, state.confirmed);
  }

  /** Whether the session's partition of `kind`'s topic may still hold records not handed over (see inputBehind). */
  function partitionBehind(state: SessionState, kind: InputKind): boolean {
    return inputBehind !== null && state.partition !== null && inputBehind(kind, state.partition);
  }

  function sessionFor(sessionId: string, at: number, partition: number | null): SessionState {
    let state = sessions.get(sessionId);
    if (!state) {
      state = newSessionState(sessionId, partition, restored?.(sessionId) ?? -Infinity, at);
      sessions.set(sessionId, state);
    }
    return state;
  }

  function acceptRecord(record: Positioned<InputRecord>, at: number): WindowEvent[] {
    const input = record.value;
    const sessionId: unknown = input.value.sessionId;
    if (typeof sessionId !== 'string' || sessionId.trim() === '') {
      return [reject(record, 'MISSING_SESSION_ID', `${input.kind} record has no session id (got ${JSON.stringify(sessionId)})`)];
    }
    const problem = timeProblem(input, sessions.get(sessionId), at, config);
    if (problem !== null) {
      const events = [reject(record, 'TIME_OUT_OF_RANGE', problem)];
      const state = sessions.get(sessionId);
      if (state) events.push(...endOfStream(state, input, at));
      return events;
    }
    const state = sessionFor(sessionId, at, record.position?.partition ?? null);
    if (at - state.lastSeen >= modalityIdleMs) {
      // The whole session was silent (a pause in the stream, a stall, a rebalance): the modalities
      // live when it went quiet paused together, none idled while another went on. They come back
      // topic by topic, so each gets modalityIdleMs again; otherwise the first one back would close
      // windows that the others' records, not yet read, belong to. One already idle stays idle.
      for (const p of state.progress.values()) if (state.lastSeen - p.lastSeen < modalityIdleMs) p.lastSeen = at;
    }
    state.lastSeen = at;
    const events = [assign(state, record, at)];
    // Late and SESSION_FULL records advance the watermark too: a full session must drain.
    state.maxEventTime = Math.max(state.maxEventTime, input.value.eventTime);
    observe(state, input.value.eventTime, maxWatermarkJumpMs);
    const reached = recordSpan(input).to;
    const p = state.progress.get(input.kind);
    state.progress.set(input.kind, { maxEventTime: Math.max(p?.maxEventTime ?? -Infinity, reached), lastSeen: at });
    events.push(...closeThrough(state, watermark(state, at) - allowedLatenessMs));
    events.push(...endOfStream(state, input, at));
    return events;
  }

  return {
    accept(record, at) {
      stats.records++;
      try {
        return acceptRecord(record, at);
      } catch (err) {
        // A bug or an input nobody foresaw must not stop every session: the record is refused
        // (dead-lettered with the error) and the stage goes on.
        return [reject(record, 'PROCESSING_FAILED', `windowing failed on this record: ${errorText(err)}`)];
      }
    },

    tracks(sessionId) {
      return sessions.has(sessionId);
    },

    checkIdle(sessionId, at) {
      const state = sessions.get(sessionId);
      if (!state) return { events: [], recheckInMs: null };
      if (state.active && endGraceLeft(state, at) === 0) return { events: flush(state, at), recheckInMs: idleTimeoutMs };
      // With a hold, windows it kept open close by the timer once it lifts (or times out).
      const released = hold && state.active ? closeThrough(state, watermark(state, at) - allowedLatenessMs) : [];
      const idleFor = at - state.lastSeen;
      // Silent while a partition of a modality it sends may still hold its records is lag, not
      // idleness (see inputBehind): flushing then made every record of it still unread late (18,361
      // audio records in a 400-session load-bench run, README Load). It idles once caught up.
      const lagging = state.active && [...state.seen].some((kind) => !state.ended.has(kind) && partitionBehind(state, kind));
      if (idleFor < idleTimeoutMs || lagging) {
        const recheck = idleFor < idleTimeoutMs ? idleTimeoutMs - idleFor : HOLD_RECHECK_MS;
        return { events: released, recheckInMs: hold && state.active && state.windows.size > 0 ? Math.min(recheck, HOLD_RECHECK_MS) : recheck };
      }
      if (released.length > 0) return { events: [...released, ...flush(state, at)], recheckInMs: idleTimeoutMs };
      if (state.active) return { events: flush(state, at), recheckInMs: idleTimeoutMs };
      sessions.delete(sessionId);
      return { events: [], recheckInMs: null };
    },

    dueIn(sessionId, at) {
      const state = sessions.get(sessionId);
      if (!state) return null;
      const idle = Math.max(0, idleTimeoutMs - (at - state.lastSeen));
      const grace = state.active ? endGraceLeft(state, at) : null;
      const due = grace === null ? idle : Math.min(idle, grace);
      return hold && state.active && heldAt(state, at) !== null ? Math.min(due, HOLD_RECHECK_MS) : due;
    },

    flushAll() {
      const events = [...sessions.values()].flatMap((state) => (state.active ? flush(state, state.lastSeen) : []));
      sessions.clear();
      return events;
    },

    dropPartitions(partitions) {
      const dropped: string[] = [];
      for (const state of [...sessions.values()]) {
        if (state.partition === null || !partitions.has(state.partition)) continue;
        if (state.active) stats.openSessions--;
        stats.bufferedRecords -= state.buffered;
        sessions.delete(state.sessionId);
        dropped.push(state.sessionId);
      }
      stats.revokedSessions += dropped.length;
      return dropped;
    },

    dispose() {
      for (const state of sessions.values()) {
        if (state.active) stats.openSessions--;
        stats.bufferedRecords -= state.buffered;
      }
      sessions.clear();
    },
  };
}
