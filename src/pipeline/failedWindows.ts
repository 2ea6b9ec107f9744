/**
 * A window that could not be scored (building its model input threw): each of its records goes to
 * the dead-letter topic once (PROCESSING_FAILED, with the error), whatever other windows it was
 * in, and the window counts as done with its last letter (exactly-once: in that letter's
 * transaction), so the pipeline goes on.
 */
import type { KafkaSink } from '../transport/kafka/index.js';
import type { RawRecord, SourcePosition } from '../transport/types.js';
import type { CommitTracker } from '../transport/commitTracker.js';
import type { SessionWindow } from '../windows/types.js';

/** Positions remembered as dead-lettered; beyond it the set starts again (a repeat letter at worst). */
const MAX_FAILED_POSITIONS = 100_000;

const positionKey = (p: SourcePosition) => `${p.topic}\u0000${p.partition}\u0000${p.offset}`;

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

export function createFailedWindowHandler(options: {
  sink: Pick<KafkaSink, 'deadLetter'>;
  tracker: Pick<CommitTracker, 'windowDone'>;
  /** A letter could not be written: the pipeline fails (the records stay uncommitted). */
  fail: (err: unknown, what: string) => void;
}): (window: SessionWindow, err: unknown) => void {
  const { sink, tracker } = options;
  const failedPositions = new Set<string>();
  return (window, err) => {
    const reason =
      `window [${window.start},${window.end}) of session ${window.sessionId} could not be scored: ${errorText(err)}; ` +
      `this record was in it (the dead letter holds no copy: the record stays on its topic at this offset)`;
    const letters = window.positions.flatMap((p) => {
      const key = positionKey(p);
      if (failedPositions.has(key)) return [];
      if (failedPositions.size >= MAX_FAILED_POSITIONS) failedPositions.clear();
      failedPositions.add(key);
      const raw: RawRecord = { ...p, key: Buffer.from(window.sessionId), value: null, timestamp: window.closedAt };
      return [raw];
    });
    const done = () => tracker.windowDone(window.positions);
    if (letters.length === 0) done();
    const writes = letters.map((raw, i) => sink.deadLetter(raw, 'PROCESSING_FAILED', reason, window.sessionId, i === letters.length - 1 ? done : undefined));
    Promise.all(writes).then(
      () => undefined,
      (e: unknown) => options.fail(e, `could not write to the dead-letter topic (window ${window.sessionId} ${window.end} stays uncommitted)`),
    );
  };
}
