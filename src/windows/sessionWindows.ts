import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { InputRecord } from '../schemas/records.js';
import { createSessionWindowing } from './sessionWindowing.js';
import type { Positioned, WindowEvent } from './types.js';
import { resolveWindowOptions, type SessionWindowOptions } from './windowOptions.js';

/**
 * Groups each session's records into event-time sliding windows and emits every window once it
 * closes, together with one disposition event per record (`assigned`, `late` or `rejected`) and
 * an `expired` event when a session is flushed and freed.
 *
 * Time semantics (W = sizeMs, H = hopMs, L = allowedLatenessMs; all per session):
 * - Windows are aligned to multiples of H in event time: window k is [k*H, k*H + W), W a multiple
 *   of H. Audio chunks and video frames are instants at their `eventTime`; a transcript segment
 *   spans [eventTime, endTime) and belongs, whole (all its words), to every window it overlaps.
 * - Watermark = max eventTime seen - L (with modality alignment, `modalityIdleMs` > 0: the
 *   minimum over the session's live modalities of their max event time, a transcript segment
 *   reaching its endTime, - L; see windowOptions.ts). A window closes when the watermark reaches its end
 *   (watermark >= end); closed windows are emitted in end order, each exactly once, only if some
 *   record joined it. Inside a window, records are in eventTime order per modality.
 * - A record joins every window containing it that is still open. If some had closed it is
 *   `assigned` with `missedWindows` > 0 (counted as partially late); if all had closed it is
 *   `late` (side output). A record at most L behind the session's max event time joins all its windows.
 * - `rejected`: no session id (MISSING_SESSION_ID); eventTime not finite, a segment ending before
 *   it starts or spanning more than maxEventTimeSkewMs, or eventTime further than
 *   maxEventTimeSkewMs from the session's max event time (TIME_OUT_OF_RANGE; it does not move the
 *   watermark); or maxRecordsPerSession records already held by the session's open windows
 *   (SESSION_FULL; its eventTime still moves the watermark so that the session drains); or an
 *   eventTime more than maxEventTimeAheadMs ahead of processing time (TIME_OUT_OF_RANGE); or
 *   windowing it threw (PROCESSING_FAILED, the error in the reason; the stage goes on).
 * - Outliers (maxWatermarkJumpMs = J): the watermark follows the event time the session's records
 *   agree on: a time more than J past it (or a session's first) counts only once a later record
 *   reaches within J of it. So one record, however far ahead, never closes the session's windows;
 *   it is windowed like any other (its windows close when the stream gets there or at the flush).
 * - Transcript segments with the same segmentId: the later replaces the earlier's content in all
 *   open windows (a final is never replaced by an interim: the interim then loses). The loser's
 *   position stays in `positions` of every window it joined, so `assigned.windows` stays exact;
 *   a window whose records were all replaced is still emitted, with empty content.
 * - `endOfStream`: once every modality the session sent records on has said endOfStream (policy
 *   `'all-modalities'`, default) or on the first one (`'any'`), all its open windows are emitted
 *   at once, its buffers freed and `expired` emitted. With modality alignment, a modality never seen holds an ended
 *   session back only until the session is `modalityIdleMs` old (a timer flushes it then).
 * - Idle: a session with no record for idleTimeoutMs of scheduler time is flushed the same way.
 *   A flushed session leaves a tombstone (its max event time and last closed window end) for
 *   another idleTimeoutMs, so stragglers are reported late instead of re-opening emitted windows;
 *   a later record with newer event time re-opens the session. Rejected records do not count as
 *   activity, so a session poisoned by a bogus far-future record heals within 2 x idleTimeoutMs.
 * - Revoked partitions (`revoked`): sessions whose records came from them are dropped without
 *   emitting anything but one `revoked` event naming them; their records' offsets stay
 *   uncommitted here, and the partition's new owner reads them again.
 * - Restored state (`restored`): a session seen first after a restart starts closed through the
 *   end of its last window scored before, so a re-read record of an already-scored window is
 *   `assigned` to 0 windows (`alreadyScored`), neither re-scored nor late.
 * - When the source completes, every session is flushed, then the output completes. Errors and
 *   unsubscription drop the open windows without emitting them (their offsets stay uncommitted).
 *
 * Offsets: every record gets exactly one disposition event, emitted before any window holding it.
 * A position may be committed when its `assigned.windows` windows have all been scored, or when
 * its late / rejected record was written to its side output.
 *
 * @example
 * records$.pipe(sessionWindows({ sizeMs: 6000, hopMs: 1000, stats }))
 *   .subscribe((event) => { if (event.type === 'window') score(event.window); });
 *
 * @param options validated eagerly (throws `WindowOptionsError` naming the bad value)
 * @param scheduler drives idle expiry and stamps record arrival; tests pass a `TestScheduler`
 */
export function sessionWindows(
  options: SessionWindowOptions = {},
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<Positioned<InputRecord>, WindowEvent> {
  const config = resolveWindowOptions(options);
  return (source) =>
    new Observable<WindowEvent>((subscriber) => {
      const windowing = createSessionWindowing(config);
      const idleTimers = new Map<string, { timer: Subscription; at: number }>();

      const emit = (events: WindowEvent[]) => {
        for (const event of events) {
          if (subscriber.closed) return;
          subscriber.next(event);
        }
      };

      // One lazy timer per session: it re-arms itself for the rest of the idle time, so a record
      // costs no timer work.
      const watchIdle = (sessionId: string, delayMs: number) => {
        idleTimers.get(sessionId)?.timer.unsubscribe();
        const timer = scheduler.schedule(() => {
          idleTimers.delete(sessionId);
          const { events, recheckInMs } = windowing.checkIdle(sessionId, scheduler.now());
          if (recheckInMs !== null) watchIdle(sessionId, recheckInMs);
          emit(events);
        }, delayMs);
        idleTimers.set(sessionId, { timer, at: scheduler.now() + delayMs });
      };

      const stopTimers = () => {
        for (const { timer } of idleTimers.values()) timer.unsubscribe();
        idleTimers.clear();
      };

      // Revoked partitions: their sessions go at once, windows unemitted, timers stopped.
      const revokedSubscription = config.revoked?.subscribe((partitions) => {
        const sessionIds = windowing.dropPartitions(new Set(partitions));
        for (const id of sessionIds) {
          idleTimers.get(id)?.timer.unsubscribe();
          idleTimers.delete(id);
        }
        if (!subscriber.closed) subscriber.next({ type: 'revoked', sessionIds, partitions: [...partitions] });
      });

      const subscription = source.subscribe({
        next(record) {
          const events = windowing.accept(record, scheduler.now());
          const sessionId = record.value.value.sessionId;
          if (windowing.tracks(sessionId)) {
            // One timer per session, armed for the idle timeout; earlier when an ended session
            // waits only for the grace of modalities it never sent.
            const now = scheduler.now();
            const due = windowing.dueIn(sessionId, now);
            const armed = idleTimers.get(sessionId);
            if (due !== null && (armed === undefined || now + due < armed.at)) watchIdle(sessionId, due);
          }
          emit(events);
        },
        error(err: unknown) {
          stopTimers();
          windowing.dispose();
          subscriber.error(err);
        },
        complete() {
          stopTimers();
          emit(windowing.flushAll());
          subscriber.complete();
        },
      });

      return () => {
        subscription.unsubscribe();
        revokedSubscription?.unsubscribe();
        stopTimers();
        windowing.dispose();
      };
    });
}
