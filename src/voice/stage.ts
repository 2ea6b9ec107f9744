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
import { BatchQueue } from '../operators/batchQueue.js';
import { ASR_SAMPLE_RATE, cutChunk, eventTimeOf, sessionAudio, undecidedAudioFrom, type SessionAudio, type Utterance } from '../speech/sessionAudio.js';
import { VoiceSession } from '../model/voiceReader.js';
import type { VoiceReading, VoiceStage, VoiceStageOptions, VoiceStats, WindowVoice } from './types.js';
import type { Config } from '../config/config.js';
import type { VoiceParts } from './index.js';

export type { VoiceReading, VoiceStage, VoiceStageOptions, VoiceStats, WindowVoice } from './types.js';

interface Waiter {
  start: number;
  end: number;
  resolve: (v: WindowVoice | null) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Session extends SessionAudio {
  /** Utterances cut and not yet read, by start (event time). */
  pending: Map<number, number>;
  readings: VoiceReading[];
  normaliser: VoiceSession;
  waiters: Waiter[];
  /** Wall time of the last audio record. */
  lastAudioAt: number;
  gone: boolean;
}

/** An utterance for the encoder. */
interface Job {
  session: Session;
  utterance: Utterance;
  from: number;
  to: number;
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
  const { reader, maxQueued, maxSessions, holdTimeoutMs, onError } = options;
  const log = options.logger.child({ component: 'voice' });
  const sessions = new Map<string, Session>();
  const refused = new Set<string>();
  const MAX_REFUSED = 100_000;
  const queue = new BatchQueue<Job, Float64Array | null>({
    maxBatch: options.maxBatch,
    maxQueued,
    run: (batch) => options.pool(batch.map((b) => b.utterance.samples)),
    done: read,
    onError,
  });
  /** The counts the queue does not keep (see `stats()`). */
  const stats: Omit<VoiceStats, 'droppedUtterances' | 'batches' | 'encoderSeconds' | 'queued'> = {
    sessions: 0,
    sessionsRead: 0,
    sessionsRefused: 0,
    sessionsOpen: 0,
    utterances: 0,
    readings: 0,
    emptyUtterances: 0,
    audioSeconds: 0,
    waitTimeouts: 0,
    idleFreed: 0,
  };
  let closed = false;
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
      ...sessionAudio(chunk, options.newCutter(chunk.sampleRate)),
      pending: new Map(),
      readings: [],
      normaliser: new VoiceSession(reader),
      waiters: [],
      lastAudioAt: Date.now(),
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
    const audio = undecidedAudioFrom(s);
    if (audio !== null) low = Math.min(low, audio);
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
      if (!queue.offer({ session: s, utterance: u, from, to })) {
        log.warn(
          { sessionId: s.id, from, to, maxQueued },
          `utterance of session ${s.id} at ${from}..${to}: its voice is not read, ${maxQueued} wait for the encoder (voice.maxQueued)`,
        );
        continue;
      }
      s.pending.set(from, to);
    }
    queue.kick();
  }

  /** A batch's pooled vectors: a reading each, then the windows waiting on them. */
  function read(batch: Job[], pooled: (Float64Array | null)[]): void {
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
        const utterances = await cutChunk(s, floats, ended);
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
      queue.remove((job) => job.session === s);
      drop(s);
    },

    holds: (sessionId) => sessions.has(sessionId),

    stats: () => ({
      ...stats,
      sessionsOpen: sessions.size,
      droppedUtterances: queue.shed,
      batches: queue.batches,
      encoderSeconds: queue.runSeconds,
      idleFreed,
      queued: queue.length,
    }),

    async close() {
      closed = true;
      if (sweep) clearInterval(sweep);
      await Promise.allSettled([...sessions.values()].map((s) => s.chain));
      await queue.idle();
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
