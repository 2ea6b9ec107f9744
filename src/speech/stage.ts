/**
 * The speech stage: hears sessions whose audio comes without a transcript and writes what it
 * hears to the transcript topic, as a person's transcript would arrive.
 *
 *   audio records -> per session: 16 kHz, voice activity -> utterances (cut at maxUtteranceMs)
 *     -> one queue across sessions -> the recogniser, in batches -> TranscriptSegment
 *     (origin `asr:<model>`, the utterance's event times) on the transcript topic
 *
 * The segments come back through the transcript topic like any other, so they are durable,
 * replayable and seen by other consumers. The stage is also the windows' `WatermarkHold`: a
 * session's windows stay open until the segments of its audio so far have been read back
 * (or `holdTimeoutMs` of wall time passed; counted), so no machine segment lands in `late`.
 *
 * `asr.mode`: `auto` hears a session until a transcript segment made elsewhere (origin null: a
 * captioner, an outside ASR) arrives for it, then leaves it to that source; `always` hears every
 * session; `off` none (the stage is not built). When a session's audio ends, the stage writes the
 * last segments and then an empty final segment with `endOfStream`, so the session is flushed
 * as soon as its words are in.
 *
 * Pure of Kafka and ONNX Runtime: the recogniser, the voice activity detector and `send` are given.
 */
import type { AudioChunk, TranscriptSegment } from '../schemas/records.js';
import { s16ToFloat } from '../features/acoustic/frameStream.js';
import { runPerKey } from '../arrays.js';
import { BatchQueue } from '../operators/batchQueue.js';
import { BusyShare } from './busyShare.js';
import { ASR_SAMPLE_RATE, cutChunk, eventTimeOf, msOf, sessionAudio, undecidedAudioFrom, type SessionAudio, type Utterance } from './sessionAudio.js';
import type { Recognizer, SpeechStage, SpeechStageOptions, SpeechStats } from './types.js';

export type { AsrMode, Recognizer, SpeechStage, SpeechStageOptions, SpeechStats } from './types.js';

interface Pending {
  segmentId: string;
  /** Event time the pending speech starts at. */
  from: number;
  /** Wall time it became pending. */
  since: number;
  /** Wall time the audio through the utterance's end was received (null: not known). */
  audioEndAt: number | null;
}

/** `released`: the cutter released (its short-speech count taken). */
interface Session extends SessionAudio {
  /** Segments cut or written and not yet read back from the topic, by segment id. */
  pending: Map<string, Pending>;
  /** Audio chunks received, as [event time their audio reaches, wall time received]; the oldest pruned. */
  arrivals: [number, number][];
  /** Length (ms) of the open utterance when its last interim was queued; 0: none yet. */
  interimAtMs: number;
  /** The segment id of the open utterance whose interim hypothesis went out: its final must supersede it. */
  interimId: string | null;
  /** Dropped by `forget`: nothing more is written for it. */
  forgotten?: boolean;
  /** Its recogniser and that recogniser's origin, `asr:<name>`: set by `heardBy` once its VAD branch is known. */
  heardBy?: { recognizer: Recognizer; origin: string };
}

/** An utterance for the recogniser; `interim`: an open utterance's audio so far. */
interface Job {
  session: Session;
  utterance: Utterance;
  id: string;
  from: number;
  to: number;
  interim: boolean;
  superseding?: boolean;
}

const MAX_LATENCIES = 1000;
/** The recogniser decodes finals with the beam only while it was busy at most this share of the last BEAM_WINDOW_MS. */
export const BEAM_BUSY_MAX = 0.3;
export const BEAM_WINDOW_MS = 10_000;
/** Audio chunks remembered per session for latency (about a minute of 100 ms chunks). */
const MAX_ARRIVALS = 600;

export function createSpeechStage(options: SpeechStageOptions): SpeechStage {
  const { mode, maxQueued, maxSessions, holdTimeoutMs, interimMs, onError } = options;
  const now = options.now ?? Date.now;
  const log = options.logger.child({ component: 'speech' });
  const originOf = (r: Recognizer) => `asr:${r.name}`;
  const origins: ReadonlySet<string> = new Set(options.recognizers.map(originOf));
  const sessions = new Map<string, Session>();
  /** Sessions not (or no longer) heard: left to another transcript, or refused; by id. */
  const notHeard = new Map<string, 'other-transcript' | 'refused'>();
  const MAX_NOT_HEARD = 100_000; // remembered ids (oldest forgotten): bounds the map
  const remember = (id: string, why: 'other-transcript' | 'refused') => {
    notHeard.set(id, why);
    if (notHeard.size > MAX_NOT_HEARD) notHeard.delete(notHeard.keys().next().value as string);
  };
  const busy = new BusyShare(BEAM_WINDOW_MS);
  const queue: BatchQueue<Job, string> = new BatchQueue<Job, string>({
    maxBatch: options.maxBatch,
    maxQueued,
    // The configured beam for finals while the recogniser has room; greedy decoding (about 1.7x
    // faster) for interims, and for finals while utterances queue up or the recogniser was busy with
    // finals more than BEAM_BUSY_MAX of the last BEAM_WINDOW_MS: under load, quality gives way, not latency.
    run: async (batch): Promise<string[]> => {
      const started = now();
      const interims = batch.every((b) => b.interim);
      const fast = interims || queue.length > 0 || busy.share(started) > BEAM_BUSY_MAX;
      if (fast && !interims) stats.fastFinals += batch.length;
      try {
        // One call per recogniser (telephone sessions may have their own): a batch is rarely mixed.
        return await runPerKey(
          batch,
          (b) => heardBy(b.session).recognizer,
          (recognizer, jobs) =>
            recognizer.transcribe(
              jobs.map((j) => j.utterance.samples),
              { fast },
            ),
        );
      } finally {
        // Interims fill idle time only; the load that counts is the finals'.
        if (!interims) busy.add(started, now());
      }
    },
    done: heard,
    onError,
  });
  /** The counts the queue does not keep (see `stats()`). */
  const stats: Omit<SpeechStats, 'droppedUtterances' | 'batches' | 'recognizerSeconds' | 'queued'> = {
    sessions: 0,
    sessionsHeard: 0,
    sessionsLeftToOtherTranscript: 0,
    sessionsRefused: 0,
    utterances: 0,
    segments: 0,
    interimSegments: 0,
    fastFinals: 0,
    emptyUtterances: 0,
    shortSpeech: 0,
    audioSeconds: 0,
    holdTimeouts: 0,
    latencyMs: [],
  };
  let closed = false;
  /** Writes in order, so a session's end-of-stream record follows its last segment. */
  let sending: Promise<void> = Promise.resolve();

  function releaseCutter(s: Session): void {
    if (s.released) return;
    s.released = true;
    stats.shortSpeech += s.cutter.dropped();
    s.cutter.release();
  }

  function drop(s: Session, why: string): void {
    releaseCutter(s);
    s.resampler?.dispose();
    sessions.delete(s.id);
    log.info({ sessionId: s.id, why }, 'session no longer transcribed');
  }

  function hear(chunk: AudioChunk): Session | null {
    const existing = sessions.get(chunk.sessionId);
    if (existing) return existing;
    if (notHeard.has(chunk.sessionId)) return null;
    stats.sessions++;
    if (sessions.size >= maxSessions) {
      remember(chunk.sessionId, 'refused');
      stats.sessionsRefused++;
      log.warn({ sessionId: chunk.sessionId, maxSessions }, `session ${chunk.sessionId} is not transcribed: ${maxSessions} sessions are (asr.maxSessions)`);
      return null;
    }
    const s: Session = { ...sessionAudio(chunk, options.newCutter(chunk.sampleRate)), pending: new Map(), arrivals: [], interimAtMs: 0, interimId: null };
    sessions.set(s.id, s);
    stats.sessionsHeard++;
    log.debug({ sessionId: s.id, sampleRate: chunk.sampleRate }, 'transcribing session');
    return s;
  }

  /**
   * The session's recogniser, fixed the first time it is needed. Its cutter has decided its VAD
   * branch by then: ids and segments are made only for audio the VAD has cut, and at the end after
   * the cutter's flush. (Were it undecided, the branch by the audio's rate would be taken.)
   */
  function heardBy(s: Session): { recognizer: Recognizer; origin: string } {
    if (s.heardBy === undefined) {
      const branch = s.cutter.branch() ?? (s.inRate <= 8000 ? 8000 : 16_000);
      const recognizer = options.recognizerFor(branch);
      s.heardBy = { recognizer, origin: originOf(recognizer) };
      log.debug({ sessionId: s.id, sampleRate: s.inRate, branch, model: recognizer.name }, 'session recogniser');
    }
    return s.heardBy;
  }

  /**
   * A segment's id is its utterance's start in event time, not a counter: a restart that hears
   * the session again from the middle cannot give an earlier segment's id to other words, and the
   * same audio cut the same way gets the same id (the windows keep one version of each id). An
   * interim hypothesis of an open utterance has the id its final will have (same start).
   */
  const segmentIdOf = (s: Session, startMs: number) => `${s.id}/${heardBy(s).origin}/${eventTimeOf(s, startMs)}`;

  function cut(s: Session, utterances: Utterance[]): void {
    for (const u of utterances) {
      s.interimAtMs = 0;
      const id = segmentIdOf(s, u.startMs);
      const superseding = id === s.interimId;
      if (superseding) s.interimId = null;
      const from = eventTimeOf(s, u.startMs);
      const to = eventTimeOf(s, u.endMs);
      stats.utterances++;
      stats.audioSeconds += u.samples.length / ASR_SAMPLE_RATE;
      if (!queue.offer({ session: s, utterance: u, id, from, to, interim: false, superseding })) {
        log.warn(
          { sessionId: s.id, from, to, maxQueued },
          `utterance of session ${s.id} at ${from}..${to} not transcribed: ${maxQueued} wait for the recogniser (asr.maxQueued)`,
        );
        continue;
      }
      const arrived = s.arrivals.find(([until]) => until >= to);
      s.arrivals = s.arrivals.filter(([until]) => until >= to); // later utterances end later
      s.pending.set(id, { segmentId: id, from, since: now(), audioEndAt: arrived ? arrived[1] : null });
    }
    const open = s.cutter.openAudio();
    if (s.interimId !== null && (open === null || segmentIdOf(s, open.startMs) !== s.interimId)) {
      // The utterance heard in an interim ended as too short to transcribe: an empty final ends it.
      const at = Number(s.interimId.slice(s.interimId.lastIndexOf('/') + 1));
      write([segmentOf(s, s.interimId, at, at, '', false)]);
      s.interimId = null;
    }
    queue.kick();
  }

  /**
   * An interim hypothesis of the session's open utterance, once it grew `interimMs` since the last
   * one, and only while the recogniser is idle (finals never wait for interims under load).
   */
  function interim(s: Session): void {
    if (interimMs <= 0 || queue.busy) return;
    const u = s.cutter.openAudio();
    if (u === null || u.endMs - u.startMs - s.interimAtMs < interimMs) return;
    s.interimAtMs = u.endMs - u.startMs;
    s.interimId = segmentIdOf(s, u.startMs);
    queue.offer({ session: s, utterance: u, id: s.interimId, from: eventTimeOf(s, u.startMs), to: eventTimeOf(s, u.endMs), interim: true }); // the queue is empty
    queue.kick();
  }

  /** A batch's texts: its segments go out. */
  function heard(batch: Job[], texts: string[]): void {
    const out: TranscriptSegment[] = [];
    for (const [i, job] of batch.entries()) {
      const text = (texts[i] ?? '').trim();
      if (job.session.forgotten) continue;
      if (job.interim) {
        if (text !== '') out.push({ ...segmentOf(job.session, job.id, job.from, job.to, text, false), isFinal: false });
        continue;
      }
      // An interim went out under this id: the final (even empty) must supersede it.
      if (text === '' && job.superseding !== true) {
        stats.emptyUtterances++;
        job.session.pending.delete(job.id);
        continue;
      }
      if (text === '') stats.emptyUtterances++;
      out.push(segmentOf(job.session, job.id, job.from, job.to, text, false));
    }
    write(out);
  }

  function pushLatency(ms: number): void {
    stats.latencyMs.push(ms);
    if (stats.latencyMs.length > MAX_LATENCIES) stats.latencyMs.shift();
  }

  function write(segments: TranscriptSegment[]): void {
    if (segments.length === 0) return;
    sending = sending.then(async () => {
      await options.send(segments);
      stats.segments += segments.filter((x) => !x.endOfStream && x.isFinal).length;
      stats.interimSegments += segments.filter((x) => !x.isFinal).length;
    });
    sending.catch(onError);
  }

  function segmentOf(s: Session, segmentId: string, from: number, to: number, text: string, endOfStream: boolean): TranscriptSegment {
    return {
      sessionId: s.id,
      segmentId,
      eventTime: from,
      endTime: Math.max(from, to),
      text,
      words: [],
      isFinal: true,
      speaker: null,
      channel: null,
      language: 'en',
      endOfStream,
      origin: heardBy(s).origin,
    };
  }

  /** Once every utterance of an ended session went to the recogniser and out: its end-of-stream record. */
  function endWhenDone(s: Session): void {
    s.chain = s.chain.then(async () => {
      await queue.settled((job) => job.session === s);
      if (s.forgotten) return;
      const end = eventTimeOf(s, msOf(s.samples));
      const id = `${s.id}/${heardBy(s).origin}/end`;
      s.pending.set(id, { segmentId: id, from: end, since: now(), audioEndAt: null });
      write([segmentOf(s, id, end, end, '', true)]);
      await sending;
      releaseCutter(s);
      s.resampler?.dispose();
      s.resampler = null;
    });
  }

  return {
    origins,

    leftToOther: (sessionId) => notHeard.get(sessionId) === 'other-transcript',

    forget(sessionId) {
      const s = sessions.get(sessionId);
      if (!s) return;
      s.forgotten = true;
      queue.remove((job) => job.session === s);
      drop(s, 'its partition was revoked (another instance owns it now)');
    },

    audio(chunk) {
      if (closed) return;
      const s = hear(chunk);
      if (!s || s.ended) return;
      if (chunk.sampleRate !== s.inRate) {
        log.warn({ sessionId: s.id, was: s.inRate, now: chunk.sampleRate }, 'sample rate changed mid-session; transcription of this session stops');
        drop(s, `sample rate changed from ${s.inRate} to ${chunk.sampleRate} Hz`);
        remember(s.id, 'refused');
        return;
      }
      s.unprocessed++;
      s.arrivals.push([chunk.eventTime + (chunk.samples.length / 2 / chunk.sampleRate) * 1000, now()]);
      if (s.arrivals.length > MAX_ARRIVALS) s.arrivals.shift();
      const floats = s16ToFloat(chunk.samples);
      const ended = chunk.endOfStream;
      if (ended) s.ended = true;
      s.chain = s.chain.then(async () => {
        if (!sessions.has(s.id)) return;
        cut(s, await cutChunk(s, floats, ended));
        if (!ended) interim(s);
      });
      // Counted down after this chunk's turn, whatever it did: a chunk still queued behind it keeps the hold.
      s.chain = s.chain.finally(() => {
        s.unprocessed--;
      });
      s.chain.catch(onError);
      if (ended) endWhenDone(s);
    },

    transcript(segment) {
      const s = sessions.get(segment.sessionId);
      if (segment.origin !== null && origins.has(segment.origin)) {
        // An interim hypothesis does not release the hold: its final is still to come.
        if (s && segment.isFinal) {
          const p = s.pending.get(segment.segmentId);
          if (p?.audioEndAt != null) pushLatency(now() - p.audioEndAt);
          s.pending.delete(segment.segmentId);
          if (segment.endOfStream) sessions.delete(s.id);
        }
        return;
      }
      if (mode === 'auto' && segment.origin === null && !notHeard.has(segment.sessionId)) {
        remember(segment.sessionId, 'other-transcript');
        stats.sessionsLeftToOtherTranscript++;
        if (s) drop(s, 'a transcript from elsewhere arrived for it (asr.mode auto)');
        else stats.sessions++;
      }
    },

    heldAt(sessionId, at) {
      const s = sessions.get(sessionId);
      if (!s) return null;
      let low = Infinity;
      const t = now();
      for (const p of s.pending.values()) {
        if (t - p.since > holdTimeoutMs) {
          // The recogniser is behind by more than the bound: this segment no longer holds the windows.
          s.pending.delete(p.segmentId);
          stats.holdTimeouts++;
          log.warn(
            { sessionId, segmentId: p.segmentId, holdTimeoutMs, at },
            `session ${sessionId}: segment ${p.segmentId} is over ${holdTimeoutMs} ms late (asr.holdTimeoutMs); its windows no longer wait for it`,
          );
          continue;
        }
        low = Math.min(low, p.from);
      }
      const audio = undecidedAudioFrom(s);
      if (audio !== null) low = Math.min(low, audio);
      return low === Infinity ? null : low;
    },

    stats: () => ({
      ...stats,
      droppedUtterances: queue.shed,
      batches: queue.batches,
      recognizerSeconds: queue.runSeconds,
      queued: queue.length,
      latencyMs: [...stats.latencyMs],
    }),

    async close() {
      closed = true;
      await Promise.allSettled([...sessions.values()].map((s) => s.chain));
      await queue.idle();
      await sending.catch(() => undefined);
      for (const s of sessions.values()) {
        releaseCutter(s);
        s.resampler?.dispose();
      }
      sessions.clear();
    },
  };
}
