/**
 * The voice stage: reads how each session's audio sounds, utterance by utterance, for the scores.
 *
 *   audio records -> per session: 16 kHz, voice activity -> utterances (as the speech stage cuts
 *     them, config `asr.vad`) -> one queue across sessions -> the Whisper encoder's block2, pooled
 *     (batched) -> the session's VoiceSession (running normaliser, ridge) -> valence v in [-3, 3]
 *     per utterance, kept with its event times
 *
 * A window's voice (`windowVoice`) is the mean of v over the utterances overlapping the window,
 * each weighted by how many ms of it fall inside the window; none: no voice value. It resolves once
 * every utterance that overlaps the window in the audio received so far has been read (speech
 * still open, cut but not encoded, or audio not yet through voice activity detection all wait),
 * or after `holdTimeoutMs` of wall time (counted; then with the values there are). The scoring
 * waits for it, so a score never goes out before its voice value, whether the window closed by
 * the watermark or by an end-of-stream flush.
 *
 * State per session (cutter, resampler, normaliser sums, values) is freed by `end` (the session
 * ended and its last score went out) or `forget` (its partition was revoked).
 * Pure of Kafka and ONNX Runtime: the encoder (`pool`) and the cutter are given.
 */
import type { Logger } from '../log.js';
import type { AudioChunk } from '../schemas/records.js';
import { s16ToFloat } from '../features/acoustic/frameStream.js';
import { StreamingResampler } from '../features/acoustic/resample.js';
import { ASR_SAMPLE_RATE, type Utterance, type UtteranceCutter } from '../speech/stage.js';
import { VoiceSession, type VoiceReader } from '../model/voiceReader.js';
import type { Config } from '../config/config.js';
import type { VoiceParts } from './index.js';

export interface VoiceStageOptions {
  reader: VoiceReader;
  /** Pooled block2 vector of each utterance (null: too short); one call is one batch. */
  pool: (utterances: readonly Float32Array[]) => Promise<(Float64Array | null)[]>;
  newCutter: () => UtteranceCutter;
  /** Utterances given to the encoder at once. */
  maxBatch: number;
  /** Utterances waiting for the encoder, all sessions; more are not read (counted, logged). */
  maxQueued: number;
  /** Sessions read at once; the voice of more is not read (counted, logged once per session). */
  maxSessions: number;
  /** Wall ms a window's score waits at most for its voice values. */
  holdTimeoutMs: number;
  /**
   * Wall ms after its last audio record that a session's state is freed even without `end` (its
   * records never reached the windows, e.g. all dead-lettered); 0 = never. Make it well above the
   * windows' idle timeout, so no window of the session is still to come.
   */
  idleMs?: number;
  /** The encoder failed (the pipeline fails: records stay uncommitted). */
  onError: (err: unknown) => void;
  logger: Logger;
}

/** One utterance's reading, event times (epoch ms). */
export interface VoiceReading {
  from: number;
  to: number;
  /** Valence in [-3, 3]. */
  value: number;
}

/** The voice of one window: v and what it came from. */
export interface WindowVoice {
  value: number;
  utterances: number;
  /** ms of speech inside the window that the value weighs. */
  ms: number;
}

export interface VoiceStats {
  sessions: number;
  sessionsRead: number;
  sessionsRefused: number;
  /** Sessions whose state is held now. */
  sessionsOpen: number;
  utterances: number;
  /** Utterances valued (a reading each). */
  readings: number;
  /** Utterances not read: too many waiting (`voice.maxQueued`). */
  droppedUtterances: number;
  /** Utterances shorter than a mel frame or with no pooled vector. */
  emptyUtterances: number;
  batches: number;
  audioSeconds: number;
  encoderSeconds: number;
  /** Windows whose score stopped waiting for voice values after `holdTimeoutMs`. */
  waitTimeouts: number;
  /** Sessions freed after `idleMs` without audio and without ending (their records never reached the windows). */
  idleFreed: number;
  queued: number;
}

export interface VoiceStage {
  audio(chunk: AudioChunk): void;
  /** The window's voice (see the module comment); null when the session's voice is not read or no utterance overlaps it. */
  windowVoice(sessionId: string, start: number, end: number): Promise<WindowVoice | null>;
  /** The session ended and its last score went out: frees its state. */
  end(sessionId: string): void;
  /** The session's partition was revoked: frees its state at once; its queued utterances are not read. */
  forget(sessionId: string): void;
  /** Sessions whose state is held (for tests of freeing). */
  holds(sessionId: string): boolean;
  stats(): VoiceStats;
  close(): Promise<void>;
}

interface Waiter {
  start: number;
  end: number;
  resolve: (v: WindowVoice | null) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Session {
  id: string;
  cutter: UtteranceCutter;
  resampler: StreamingResampler | null;
  inRate: number;
  t0: number;
  samples: number;
  /** Audio chunks taken and not yet through voice activity detection (they start where `samples` ends). */
  unprocessed: number;
  /** Utterances cut and not yet read, by start (event time). */
  pending: Map<number, number>;
  readings: VoiceReading[];
  normaliser: VoiceSession;
  waiters: Waiter[];
  /** Wall time of the last audio record. */
  lastAudioAt: number;
  chain: Promise<void>;
  ended: boolean;
  released: boolean;
  gone: boolean;
}

/** Readings kept per session at most (the oldest go first; windows ask in order). */
const MAX_READINGS = 1000;

/** Duration-weighted mean of the readings overlapping [start, end); null when none does. */
export function windowValue(readings: readonly VoiceReading[], start: number, end: number): WindowVoice | null {
  let sum = 0;
  let ms = 0;
  let n = 0;
  for (const r of readings) {
    const w = Math.min(r.to, end) - Math.max(r.from, start);
    if (w <= 0) continue;
    sum += w * r.value;
    ms += w;
    n++;
  }
  return n === 0 ? null : { value: sum / ms, utterances: n, ms };
}

export function createVoiceStage(options: VoiceStageOptions): VoiceStage {
  const { reader, maxBatch, maxQueued, maxSessions, holdTimeoutMs, onError } = options;
  const log = options.logger.child({ component: 'voice' });
  const sessions = new Map<string, Session>();
  const refused = new Set<string>();
  const MAX_REFUSED = 100_000;
  const queue: { session: Session; utterance: Utterance; from: number; to: number }[] = [];
  const stats: VoiceStats = {
    sessions: 0,
    sessionsRead: 0,
    sessionsRefused: 0,
    sessionsOpen: 0,
    utterances: 0,
    readings: 0,
    droppedUtterances: 0,
    emptyUtterances: 0,
    batches: 0,
    audioSeconds: 0,
    encoderSeconds: 0,
    waitTimeouts: 0,
    idleFreed: 0,
    queued: 0,
  };
  let closed = false;
  let working: Promise<void> | null = null;
  let idleFreed = 0;
  const idleMs = options.idleMs ?? 0;
  const sweep =
    idleMs > 0
      ? setInterval(
          () => {
            const before = Date.now() - idleMs;
            for (const s of [...sessions.values()]) {
              if (s.lastAudioAt >= before || s.waiters.length > 0 || s.pending.size > 0 || s.unprocessed > 0) continue;
              idleFreed++;
              log.info({ sessionId: s.id, idleMs }, 'voice state of a session without audio for voice.idle time freed (it never ended in the windows)');
              drop(s);
            }
          },
          Math.min(idleMs, 10_000),
        )
      : null;
  sweep?.unref();

  const eventTimeOf = (s: Session, ms: number) => s.t0 + Math.round(ms);
  const msOf = (samples: number) => (samples * 1000) / ASR_SAMPLE_RATE;

  function refuse(id: string): void {
    refused.add(id);
    if (refused.size > MAX_REFUSED) refused.delete(refused.values().next().value as string);
  }

  function release(s: Session): void {
    if (s.released) return;
    s.released = true;
    s.cutter.release();
    s.resampler?.dispose();
    s.resampler = null;
  }

  /** Frees the session; its waiting windows get what there is. */
  function drop(s: Session): void {
    s.gone = true;
    release(s);
    sessions.delete(s.id);
    stats.sessionsOpen = sessions.size;
    for (const w of s.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(windowValue(s.readings, w.start, w.end));
    }
  }

  function open(chunk: AudioChunk): Session | null {
    const existing = sessions.get(chunk.sessionId);
    if (existing) return existing;
    if (refused.has(chunk.sessionId)) return null;
    stats.sessions++;
    if (sessions.size >= maxSessions) {
      refuse(chunk.sessionId);
      stats.sessionsRefused++;
      log.warn(
        { sessionId: chunk.sessionId, maxSessions },
        `session ${chunk.sessionId}: its voice is not read, ${maxSessions} sessions are (voice.maxSessions)`,
      );
      return null;
    }
    const s: Session = {
      id: chunk.sessionId,
      cutter: options.newCutter(),
      resampler: chunk.sampleRate !== ASR_SAMPLE_RATE ? new StreamingResampler(chunk.sampleRate, ASR_SAMPLE_RATE) : null,
      inRate: chunk.sampleRate,
      t0: chunk.eventTime,
      samples: 0,
      unprocessed: 0,
      pending: new Map(),
      readings: [],
      normaliser: new VoiceSession(reader),
      waiters: [],
      lastAudioAt: Date.now(),
      chain: Promise.resolve(),
      ended: false,
      released: false,
      gone: false,
    };
    sessions.set(s.id, s);
    stats.sessionsRead++;
    stats.sessionsOpen = sessions.size;
    return s;
  }

  /** Earliest event time not yet decided (open speech, audio not through VAD, utterances not read); null: all read. */
  function undecidedFrom(s: Session): number | null {
    let low = Infinity;
    for (const from of s.pending.keys()) low = Math.min(low, from);
    const openMs = s.cutter.openSinceMs();
    if (openMs !== null) low = Math.min(low, eventTimeOf(s, openMs));
    if (s.unprocessed > 0) low = Math.min(low, eventTimeOf(s, msOf(s.samples)));
    return low === Infinity ? null : low;
  }

  function wake(s: Session): void {
    if (s.waiters.length === 0) return;
    const low = undecidedFrom(s);
    s.waiters = s.waiters.filter((w) => {
      if (low !== null && low < w.end) return true;
      clearTimeout(w.timer);
      w.resolve(windowValue(s.readings, w.start, w.end));
      return false;
    });
  }

  function cut(s: Session, utterances: Utterance[]): void {
    for (const u of utterances) {
      const from = eventTimeOf(s, u.startMs);
      const to = eventTimeOf(s, u.endMs);
      stats.utterances++;
      stats.audioSeconds += u.samples.length / ASR_SAMPLE_RATE;
      if (queue.length >= maxQueued) {
        stats.droppedUtterances++;
        log.warn(
          { sessionId: s.id, from, to, maxQueued },
          `utterance of session ${s.id} at ${from}..${to}: its voice is not read, ${maxQueued} wait for the encoder (voice.maxQueued)`,
        );
        continue;
      }
      s.pending.set(from, to);
      queue.push({ session: s, utterance: u, from, to });
    }
    stats.queued = queue.length;
    kick();
  }

  function kick(): void {
    if (working || queue.length === 0) return;
    working = (async () => {
      while (queue.length > 0) {
        const batch = queue.splice(0, maxBatch);
        stats.queued = queue.length;
        const started = performance.now();
        const pooled = await options.pool(batch.map((b) => b.utterance.samples));
        stats.encoderSeconds += (performance.now() - started) / 1000;
        stats.batches++;
        const touched = new Set<Session>();
        // In queue order: each session's utterances reach its running normaliser in time order.
        batch.forEach((job, i) => {
          const s = job.session;
          if (s.gone) return;
          s.pending.delete(job.from);
          touched.add(s);
          const x = pooled[i];
          if (!x) {
            stats.emptyUtterances++;
            return;
          }
          s.readings.push({ from: job.from, to: job.to, value: s.normaliser.score(x) });
          if (s.readings.length > MAX_READINGS) s.readings.shift();
          stats.readings++;
        });
        for (const s of touched) wake(s);
      }
    })().then(
      () => {
        working = null;
        kick();
      },
      (err: unknown) => {
        working = null;
        onError(err);
      },
    );
  }

  return {
    audio(chunk) {
      if (closed) return;
      const s = open(chunk);
      if (!s || s.ended) return;
      if (chunk.sampleRate !== s.inRate) {
        log.warn({ sessionId: s.id, was: s.inRate, now: chunk.sampleRate }, 'sample rate changed mid-session; its voice is no longer read');
        refuse(s.id);
        drop(s);
        return;
      }
      s.unprocessed++;
      s.lastAudioAt = Date.now();
      const floats = s16ToFloat(chunk.samples);
      const ended = chunk.endOfStream;
      if (ended) s.ended = true;
      s.chain = s.chain.then(async () => {
        if (s.gone) return;
        const pcm = s.resampler ? s.resampler.push(floats) : floats;
        const tail = ended && s.resampler ? s.resampler.flush() : new Float32Array(0);
        const utterances = [...(await s.cutter.push(pcm)), ...(tail.length > 0 ? await s.cutter.push(tail) : [])];
        s.samples += pcm.length + tail.length;
        if (ended) utterances.push(...(await s.cutter.flush()));
        s.unprocessed--;
        cut(s, utterances);
        if (ended) release(s);
        wake(s);
      });
      s.chain.catch(onError);
    },

    windowVoice(sessionId, start, end) {
      const s = sessions.get(sessionId);
      if (!s) return Promise.resolve(null);
      // Windows of a session are asked in order: readings that end before this one and every
      // waiting one start are done with.
      const keepFrom = s.waiters.reduce((low, w) => Math.min(low, w.start), start);
      while (s.readings.length > 0 && s.readings[0]!.to <= keepFrom) s.readings.shift();
      const low = undecidedFrom(s);
      if (low === null || low >= end) return Promise.resolve(windowValue(s.readings, start, end));
      return new Promise((resolve) => {
        const waiter: Waiter = {
          start,
          end,
          resolve,
          timer: setTimeout(() => {
            s.waiters = s.waiters.filter((w) => w !== waiter);
            stats.waitTimeouts++;
            log.warn(
              { sessionId, start, end, holdTimeoutMs },
              `session ${sessionId}: window ending ${end} waited ${holdTimeoutMs} ms for its voice values (voice.holdTimeoutMs); scored with those there are`,
            );
            resolve(windowValue(s.readings, start, end));
          }, holdTimeoutMs),
        };
        waiter.timer.unref?.();
        s.waiters.push(waiter);
      });
    },

    end(sessionId) {
      const s = sessions.get(sessionId);
      if (s) drop(s);
      refused.delete(sessionId);
    },

    forget(sessionId) {
      const s = sessions.get(sessionId);
      if (!s) return;
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i]!.session === s) queue.splice(i, 1);
      stats.queued = queue.length;
      drop(s);
    },

    holds: (sessionId) => sessions.has(sessionId),

    stats: () => ({ ...stats, sessionsOpen: sessions.size, idleFreed }),

    async close() {
      closed = true;
      if (sweep) clearInterval(sweep);
      await Promise.allSettled([...sessions.values()].map((s) => s.chain));
      while (working) await working.catch(() => undefined);
      for (const s of [...sessions.values()]) drop(s);
    },
  };
}

/** The pipeline's voice stage, per config `voice.*`. */
export function createPipelineVoiceStage(
  config: Pick<Config, 'voice' | 'windows'>,
  parts: VoiceParts,
  logger: Logger,
  onError: (err: unknown) => void,
): VoiceStage {
  return createVoiceStage({
    reader: parts.served.reader,
    pool: parts.pool,
    newCutter: parts.newCutter,
    maxBatch: config.voice.maxBatch,
    maxQueued: config.voice.maxQueued,
    maxSessions: config.voice.maxSessions,
    holdTimeoutMs: config.voice.holdTimeoutMs,
    // Windows of a session idle for idleTimeoutMs are flushed; twice that, nothing is left to ask.
    idleMs: 2 * config.windows.idleTimeoutMs + config.voice.holdTimeoutMs,
    onError,
    logger,
  });
}
