/**
 * The scoring path of the pipeline, pure of Kafka: closed windows in, scores out.
 * window -> model input (tokens, non-verbal codebook ids) -> [its voice value, waited for]
 * -> micro-batch -> ONNX model -> + voice term -> rolling score. Each emitted item carries the positions of the window's input records so the
 * caller can settle their offsets once the score is written.
 */
import { Observable, Subject, map, merge, mergeMap, of, EMPTY, type OperatorFunction, type SchedulerLike, asyncScheduler } from 'rxjs';
import type { Modalities, Score } from '../schemas/records.js';
import type { SourcePosition } from '../transport/types.js';
import type { SessionWindow } from '../windows/types.js';
import { eventTimeReached } from '../windows/eventTimeReached.js';
import type { NonVerbalIds } from '../features/nonVerbal.js';
import { buildWindowInput, type WindowInput } from '../model/windowInputs.js';
import type { TextTokenizer } from '../model/tokenizer.js';
import type { PadIndex } from '../model/batchTensors.js';
import type { ModelInput, ModelOutput } from '../model/types.js';
import { microBatch, type MicroBatchInfo } from '../operators/microBatch.js';
import { keepSessionOrder } from '../operators/keepSessionOrder.js';
import { voiceTerm } from '../voice/index.js';
import type { WindowVoice } from '../voice/stage.js';
import { InferenceCrashError } from '../model/inferencePool.js';
import { rollingScore, type RollingScoreOptions, type RollingState, type SkipReason, type WindowResult } from '../scores/rollingScore.js';

export interface ScoringOptions {
  tokenizer: TextTokenizer;
  maxTextTokens: number;
  padIndex: PadIndex;
  /** Most words of a window looked at (config `limits.maxWordsPerWindow`); see buildWindowInput. */
  maxWords?: number;
  /** Runs the model on a batch; results in input order. */
  runModel: (inputs: ModelInput[]) => Promise<ModelOutput[]>;
  modelVersion: string;
  batching: { maxBatchSize: number; maxQueueDelayMs: number; maxInFlight: number; maxQueued: number; pauseAt?: number };
  rolling: Omit<RollingScoreOptions, 'onSkip' | 'onUpdate'>;
  /** Non-verbal codebook ids of a window (the feature stage); absent for a model that reads words only. */
  nonVerbal?: (window: SessionWindow) => NonVerbalIds | undefined;
  /**
   * A window that will not be scored: no records left ('empty'), nothing the model can read
   * ('no-usable-input'), or skipped by the rolling score. Settle it.
   */
  onUnscored?: (window: SessionWindow, reason: SkipReason | 'empty' | 'no-usable-input') => void;
  /**
   * Building the window's model input threw (a bug, or an input nobody foresaw), or the model's
   * worker thread died under its batch twice (`InferenceCrashError`): the window is not scored and
   * the stream goes on; the caller dead-letters its records (PROCESSING_FAILED) and settles them.
   * Without it, the error ends the stream as before.
   */
  onFailed?: (window: SessionWindow, err: unknown) => void;
  onPressure?: (under: boolean) => void;
  /** Session ids whose rolling state to drop at once, with no `ended` item (their partition was revoked). */
  forget?: Observable<string>;
  onBatch?: (info: MicroBatchInfo) => void;
  /** Modalities the model actually read in a window. */
  onUsed?: (used: Modalities) => void;
  /**
   * The voice path (src/voice): a window with audio waits for its voice value v (in session order;
   * other sessions do not wait), and its score becomes the model's score + weight * clamp(v, -1, 1),
   * that term added to `contributions.audio` and `modalitiesUsed.audio` true. A window with a voice
   * value and nothing the model reads is scored by the voice term alone (the model is not run: its
   * score on empty input would be its bias, not sentiment).
   */
  voice?: {
    windowVoice: (window: SessionWindow) => Promise<WindowVoice | null>;
    weight: number;
    /** A window did not wait for its voice value: `maxQueued` windows already wait (counted by the caller). */
    onShed?: (window: SessionWindow) => void;
  };
  scheduler?: SchedulerLike;
}

export interface ScoredWindow {
  kind: 'score';
  score: Score;
  positions: SourcePosition[];
  /**
   * Event time the window's records reach (windows/eventTimeReached.ts): at most the window
   * end, less for a window flushed when its session ended. Alert rules measure time with it.
   */
  reached: number;
  /** The session's rolling state after this window (for the changelog); absent for a late, unsmoothed window. */
  state?: RollingState;
}

/** The session's expiry took effect: every window it had was scored or settled before this. */
export interface SessionEnded {
  kind: 'ended';
  sessionId: string;
}

export type ScoringOutput = ScoredWindow | SessionEnded;

interface Item {
  window: SessionWindow;
  built: WindowInput;
  voice: WindowVoice | null;
}

const modelReads = (used: Modalities) => used.text || used.audio || used.video;

/** The model's part of a window it has nothing to read in (scored by its voice alone). */
const NOTHING_READ: ModelOutput = { score: 0, contributions: { text: 0, audio: 0, video: 0 } };

/** The model's output with the voice term added to the score and to the audio contribution. */
export function fuse(model: ModelOutput, voice: WindowVoice | null, weight: number): ModelOutput {
  if (!voice) return model;
  const term = voiceTerm(voice.value, weight);
  return { score: model.score + term, contributions: { ...model.contributions, audio: model.contributions.audio + term } };
}

/** A window back from the model: its output, or the crash that cost it its score. */
type RunOutcome = Item & ({ output: ModelOutput; crashed: undefined } | { output: undefined; crashed: InferenceCrashError });

const windowKey = (sessionId: string, windowEnd: number) => `${sessionId}\u0000${windowEnd}`;

function hasRecords(w: SessionWindow): boolean {
  return w.audio.length + w.video.length + w.transcript.length > 0;
}

/**
 * Closed windows -> scores, in window order per session (the micro-batcher never reorders).
 *
 * Session expiry (`rolling.expired`) frees the session's rolling state, but the windowing stage
 * announces it right after emitting the session's last windows, while those are still queued for
 * the model. So an expiry takes effect only once every window of the session that entered before
 * it has left (scored, skipped or unscored); otherwise the last scores of every ended session
 * would lose their smoothing. When it takes effect, a `{ kind: 'ended' }` item follows the
 * session's last score, so downstream state (alerts) can be freed in order too.
 */
export function scoreWindows(options: ScoringOptions): OperatorFunction<SessionWindow, ScoringOutput> {
  return (windows$) =>
    new Observable<ScoringOutput>((subscriber) => {
      // Positions of windows between the model and the rolling score, by (session, window end).
      const inFlight = new Map<string, SessionWindow>();
      // Windows of each session inside this operator, and how many must still leave before an
      // announced expiry reaches the rolling score.
      const inside = new Map<string, number>();
      const owed = new Map<string, number>();
      const expired$ = new Subject<string>();
      const enter = (sessionId: string) => inside.set(sessionId, (inside.get(sessionId) ?? 0) + 1);
      const leave = (sessionId: string) => {
        const n = (inside.get(sessionId) ?? 1) - 1;
        if (n > 0) inside.set(sessionId, n);
        else inside.delete(sessionId);
        const o = owed.get(sessionId);
        if (o === undefined) return;
        if (o > 1) owed.set(sessionId, o - 1);
        else {
          owed.delete(sessionId);
          end(sessionId);
        }
      };
      const end = (sessionId: string) => {
        expired$.next(sessionId);
        subscriber.next({ kind: 'ended', sessionId });
      };
      const expirySubscription = options.rolling.expired?.subscribe({
        next: (sessionId) => {
          const n = inside.get(sessionId) ?? 0;
          if (n === 0) end(sessionId);
          else owed.set(sessionId, n);
        },
        error: (err: unknown) => expired$.error(err),
      });
      const settleSkipped = (r: WindowResult, reason: SkipReason) => {
        const key = windowKey(r.sessionId, r.windowEnd);
        const w = inFlight.get(key);
        inFlight.delete(key);
        if (w) {
          options.onUnscored?.(w, reason);
          leave(w.sessionId);
        }
      };
      // The rolling state a window left, taken up by its score (emitted synchronously after it).
      const updated = new Map<string, RollingState>();
      const subscription = windows$
        .pipe(
          mergeMap((window) => {
            enter(window.sessionId);
            if (!hasRecords(window)) {
              options.onUnscored?.(window, 'empty');
              leave(window.sessionId);
              return EMPTY;
            }
            let built: WindowInput;
            try {
              built = buildWindowInput(window, {
                tokenizer: options.tokenizer,
                maxTextTokens: options.maxTextTokens,
                padIndex: options.padIndex,
                maxWords: options.maxWords,
                nonVerbal: options.nonVerbal?.(window),
              });
            } catch (err) {
              if (!options.onFailed) throw err;
              options.onFailed(window, err);
              leave(window.sessionId);
              return EMPTY;
            }
            return of<Item>({ window, built, voice: null });
          }),
          keepSessionOrder<Item>({
            sessionOf: (item) => item.window.sessionId,
            workFor: (item) => {
              const voice = options.voice;
              if (!voice || !item.built.present.audio) return null;
              return async () => {
                item.voice = await voice.windowVoice(item.window);
              };
            },
            // Waiting, not computing: every window that waits for its voice may wait at once.
            concurrency: options.batching.maxQueued,
            maxQueued: options.batching.maxQueued,
            onShed: (item) => options.voice?.onShed?.(item.window),
          }),
          mergeMap((item) => {
            const { window, built } = item;
            const used = item.voice ? { ...built.used, audio: true } : built.used;
            options.onUsed?.(used);
            // Nothing the model can read (no words, and no non-verbal ids it was trained on) and no
            // voice value: a score would be the model's bias on empty input, not sentiment.
            // Counted, settled, not scored.
            if (!used.text && !used.audio && !used.video) {
              options.onUnscored?.(window, 'no-usable-input');
              leave(window.sessionId);
              return EMPTY;
            }
            return of(item);
          }),
          microBatch(
            {
              ...options.batching,
              onPressure: options.onPressure,
              onBatch: options.onBatch,
            },
            async (items): Promise<RunOutcome[]> => {
              try {
                const reads = items.filter((i) => modelReads(i.built.used));
                const outputs = reads.length > 0 ? await options.runModel(reads.map((i) => i.built.input)) : [];
                let next = 0;
                return items.map((item) => {
                  const model = modelReads(item.built.used) ? outputs[next++]! : NOTHING_READ;
                  return { ...item, output: fuse(model, item.voice, options.voice?.weight ?? 0), crashed: undefined };
                });
              } catch (err) {
                // The model's worker died under this batch twice: dead-letter its windows, go on.
                if (!(err instanceof InferenceCrashError) || !options.onFailed) throw err;
                return items.map((item) => ({ ...item, output: undefined, crashed: err }));
              }
            },
            options.scheduler ?? asyncScheduler,
          ),
          mergeMap(({ window, built, voice, output, crashed }) => {
            if (output === undefined) {
              options.onFailed?.(window, crashed);
              leave(window.sessionId);
              return EMPTY;
            }
            return of({ window, built, voice, output });
          }),
          map(({ window, built, voice, output }): WindowResult => {
            inFlight.set(windowKey(window.sessionId, window.end), window);
            return {
              sessionId: window.sessionId,
              windowStart: window.start,
              windowEnd: window.end,
              windowScore: output.score,
              contributions: output.contributions,
              modalities: built.present,
              modalitiesUsed: voice ? { ...built.used, audio: true } : built.used,
              modelVersion: options.modelVersion,
              records: window.audio.length + window.video.length + window.transcript.length,
              closedAt: window.closedAt,
            };
          }),
          rollingScore({
            ...options.rolling,
            expired: options.forget ? merge(expired$, options.forget) : expired$,
            onSkip: settleSkipped,
            onUpdate: (sessionId, state) => updated.set(sessionId, state),
          }),
        )
        .subscribe({
          next: (score) => {
            const key = windowKey(score.sessionId, score.windowEnd);
            const window = inFlight.get(key);
            inFlight.delete(key);
            const state = updated.get(score.sessionId);
            updated.delete(score.sessionId);
            subscriber.next({
              kind: 'score',
              score,
              positions: window?.positions ?? [],
              reached: window ? eventTimeReached(window) : score.windowEnd,
              ...(state ? { state } : {}),
            });
            // Delivered: an owed expiry may now free the state and say so, after this score.
            if (window) leave(window.sessionId);
          },
          error: (err: unknown) => subscriber.error(err),
          complete: () => subscriber.complete(),
        });
      return () => {
        subscription.unsubscribe();
        expirySubscription?.unsubscribe();
      };
    });
}
